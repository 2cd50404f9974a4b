"""Applying ingestion events: identity resolution (docs/design.md) and the canonical write.

Everything here runs inside the caller's transaction and returns what to publish; it never
commits and never talks to the bus. A refused event raises a :class:`UserStoreError` and the
caller rolls its savepoint back, so nothing is half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from roster_shared.events import ingest, lifecycle
from roster_shared.events.envelope import EnvelopeBase, Source, new_id
from roster_shared.events.people import GroupSnapshot, UserAttributes, UserSnapshot
from roster_shared.events.replies import Reply
from roster_shared.tenants import ProvisioningMode, TenantInfo
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from user_store.errors import (
    Deactivated,
    Invalid,
    LinkRefused,
    NotFound,
    NotProvisioned,
    PreconditionFailed,
    Refused,
    Uniqueness,
)
from user_store.identity import name_key, same_link_key
from user_store.lookups import MISS, UserLookups
from user_store.snapshots import load_group_snapshot, load_user_snapshot, user_snapshot
from user_store.tables import (
    GroupRow,
    IdentityLinkRow,
    MembershipRow,
    UserEmailRow,
    UserRow,
)

log = logging.getLogger(__name__)

USER_FIELDS = (
    "user_name",
    "external_id",
    "active",
    "display_name",
    "given_name",
    "family_name",
    "emails",
    "extra",
)


@dataclass
class Outcome:
    """What applying one event produced: the reply and the lifecycle events to publish."""

    reply: Reply
    events: list[EnvelopeBase] = field(default_factory=list)
    users: list[UserSnapshot] = field(default_factory=list)
    deleted_users: list[str] = field(default_factory=list)


def _check_version(expected: int | None, actual: int, what: str) -> None:
    if expected is not None and expected != actual:
        raise PreconditionFailed(f"{what} is at version {actual}, not {expected}")


def _emails(attributes: UserAttributes) -> list[dict[str, Any]]:
    return [e.model_dump() for e in attributes.emails]


class Applier:
    """Applies one ingestion event for one tenant within an open session."""

    def __init__(
        self,
        session: AsyncSession,
        tenant: TenantInfo,
        now: datetime,
        *,
        lookups: UserLookups | None = None,
        fast: bool = False,
        email_sink: list[dict[str, Any]] | None = None,
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.now = now
        self.lookups = lookups or UserLookups()
        # Fast: the caller runs without savepoints and redoes the whole batch safely if
        # anything raises, so writes need not be flushed early to surface constraint errors.
        self.fast = fast
        # Fast mode: e-mail rows of new accounts, inserted in bulk after the accounts.
        self.email_sink = email_sink

    # -- lookups -------------------------------------------------------------------------

    async def _one_user(self, *conditions: Any) -> UserRow | None:
        result = await self.session.execute(
            select(UserRow).where(UserRow.tenant_id == self.tenant.id, *conditions).limit(1)
        )
        return result.scalars().first()

    async def _live_user(self, user_id: str) -> UserRow:
        row = await self._one_user(UserRow.id == user_id, col(UserRow.deleted_at).is_(None))
        if row is None:
            raise NotFound(f"no user {user_id}")
        return row

    async def _by_external_id(self, external_id: str | None) -> UserRow | None:
        if not external_id:
            return None
        cached = self.lookups.by_external_id(self.tenant.id, external_id)
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        row = await self._one_user(
            UserRow.external_id == external_id,
            col(UserRow.deleted_at).is_(None),
        )
        if row is not None:
            self.lookups.remember(row)
        return row

    async def _by_user_name(self, user_name: str, *, live: bool = True) -> UserRow | None:
        key = name_key(user_name)
        if live:
            cached = self.lookups.by_name(self.tenant.id, key)
            if cached is not MISS:
                return cached  # type: ignore[return-value]
        conditions = [col(UserRow.user_name_key) == key]
        if live:
            conditions.append(col(UserRow.deleted_at).is_(None))
        row = await self._one_user(*conditions)
        if row is not None:
            self.lookups.remember(row)
        return row

    async def _by_link(self, issuer: str, subject: str) -> UserRow | None:
        result = await self.session.execute(
            select(UserRow)
            .join(IdentityLinkRow, col(IdentityLinkRow.user_id) == col(UserRow.id))
            .where(
                IdentityLinkRow.tenant_id == self.tenant.id,
                IdentityLinkRow.issuer == issuer,
                IdentityLinkRow.subject == subject,
            )
        )
        return result.scalars().first()

    async def _by_email_value(self, address: str) -> UserRow | None:
        """The one live account holding ``address`` among its e-mails (a verified key)."""
        await self._drain_email_sink()
        result = await self.session.execute(
            select(UserRow, UserEmailRow.value)
            .join(UserEmailRow, col(UserEmailRow.user_id) == col(UserRow.id))
            .where(
                UserEmailRow.tenant_id == self.tenant.id,
                col(UserEmailRow.value_key) == name_key(address),
                col(UserRow.deleted_at).is_(None),
            )
        )
        found = {row.id: row for row, value in result.all() if same_link_key(value, address)}
        # Only an unambiguous match links; two accounts sharing an address link neither.
        return next(iter(found.values())) if len(found) == 1 else None

    async def _ensure_unique(self, user: UserRow | None, attributes: UserAttributes) -> None:
        own_id = user.id if user else None
        other = await self._by_user_name(attributes.user_name)
        if other is not None and other.id != own_id:
            raise Uniqueness(
                f"userName {attributes.user_name!r} is taken by user {other.id}",
                existing_id=other.id,
            )
        other = await self._by_external_id(attributes.external_id)
        if other is not None and other.id != own_id:
            raise Uniqueness(
                f"externalId {attributes.external_id!r} is taken by user {other.id}",
                existing_id=other.id,
            )

    # -- writes --------------------------------------------------------------------------

    async def _drain_email_sink(self) -> None:
        """Write deferred e-mail rows now, before something reads or replaces them."""
        if self.email_sink:
            await self.session.flush()
            await self.session.execute(insert(UserEmailRow), list(self.email_sink))
            self.email_sink.clear()

    async def _write_emails(self, user: UserRow, *, fresh: bool = False) -> None:
        if not fresh:
            await self._drain_email_sink()
            await self.session.execute(
                delete(UserEmailRow).where(col(UserEmailRow.user_id) == user.id)
            )
        rows = [
            {
                "user_id": user.id,
                "position": position,
                "tenant_id": user.tenant_id,
                "value": email["value"],
                "value_key": name_key(email["value"]),
                "type": email.get("type"),
                "primary": bool(email.get("primary")),
            }
            for position, email in enumerate(user.emails)
        ]
        if fresh and self.email_sink is not None:
            self.email_sink.extend(rows)
        else:
            self.session.add_all(UserEmailRow(**row) for row in rows)

    def _assign(self, user: UserRow, values: dict[str, Any]) -> list[str]:
        changed = []
        for name, value in values.items():
            if getattr(user, name) != value:
                setattr(user, name, value)
                changed.append(name)
        if "user_name" in changed:
            user.user_name_key = name_key(user.user_name)
        return changed

    async def _flush(self) -> None:
        """Flush, turning a race on a unique index into the typed error it means."""
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Uniqueness(f"a unique attribute is already taken ({exc.orig})") from exc

    def _envelope(self, event: EnvelopeBase) -> dict[str, Any]:
        return {
            "event_id": new_id(),
            "occurred_at": self.now,
            "tenant_id": self.tenant.id,
            "source": event.source,
            "correlation_id": event.correlation_id or event.event_id,
        }

    async def _user_outcome(
        self,
        event: EnvelopeBase,
        user: UserRow,
        kind: type[
            lifecycle.UserCreated
            | lifecycle.UserUpdated
            | lifecycle.UserDeactivated
            | lifecycle.UserReactivated
            | lifecycle.UserDeleted
        ]
        | None,
        changed: Sequence[str],
        *,
        created: bool = False,
        reason: str | None = None,
        extra_events: Sequence[EnvelopeBase] = (),
        snapshot: UserSnapshot | None = None,
    ) -> Outcome:
        snapshot = snapshot or await load_user_snapshot(self.session, user)
        outcome = Outcome(
            reply=Reply(
                request_id=event.event_id, tenant_id=self.tenant.id, user=snapshot, created=created
            ),
        )
        if kind is not None:
            change = lifecycle.UserChange(
                user=snapshot, changed=tuple(changed), reason=reason, caused_by=event.event_id
            )
            outcome.events.append(kind(**self._envelope(event), data=change))
            if kind is lifecycle.UserDeleted:
                outcome.deleted_users.append(user.id)
            else:
                outcome.users.append(snapshot)
        outcome.events.extend(extra_events)
        return outcome

    # -- users ---------------------------------------------------------------------------

    async def user_upserted(self, event: ingest.UserUpserted) -> Outcome:
        """Rules 1-5 for a source's view of a person."""
        data = event.data
        if event.source is Source.JIT:
            return await self._login(event)
        if event.source is Source.SCIM and self.tenant.mode is ProvisioningMode.JIT:
            raise Refused(
                "this tenant provisions by login only (mode jit); "
                "switch it to scim+jit to accept SCIM"
            )
        if data.target_id is not None:
            return await self._replace(event, await self._live_user(data.target_id))
        if event.source is Source.RECONCILER:
            raise Invalid("the reconciler may only update a known user")
        return await self._create(event)

    async def _create(self, event: ingest.UserUpserted) -> Outcome:
        attributes = event.data.attributes
        existing = await self._by_external_id(attributes.external_id)
        if existing is not None:
            raise Uniqueness(
                f"externalId {attributes.external_id!r} already belongs to user {existing.id}",
                existing_id=existing.id,
            )
        existing = await self._by_user_name(attributes.user_name)
        if existing is not None:
            if existing.scim_managed:
                raise Uniqueness(
                    f"userName {attributes.user_name!r} already belongs to user {existing.id}",
                    existing_id=existing.id,
                )
            # Rule 2: a SCIM create adopts the account a login made: one person, one account.
            changed = self._assign(existing, self._scim_values(attributes, existing))
            existing.scim_managed = True
            changed.append("scim_managed")
            return await self._finish_update(event, existing, changed, created=True)
        user = UserRow(
            id=new_id(),
            tenant_id=self.tenant.id,
            user_name=attributes.user_name,
            user_name_key=name_key(attributes.user_name),
            external_id=attributes.external_id,
            active=True if attributes.active is None else attributes.active,
            display_name=attributes.display_name,
            given_name=attributes.given_name,
            family_name=attributes.family_name,
            emails=_emails(attributes),
            extra=attributes.extra,
            origin="scim" if event.source is Source.SCIM else "admin",
            scim_managed=event.source is Source.SCIM,
            version=1,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(user)
        if not self.fast:
            await self._flush()
        self.lookups.remember(user)
        await self._write_emails(user, fresh=True)
        # A new account has no identity links or groups yet: no need to read them back.
        return await self._user_outcome(
            event,
            user,
            lifecycle.UserCreated,
            USER_FIELDS,
            created=True,
            snapshot=user_snapshot(user),
        )

    def _scim_values(self, attributes: UserAttributes, user: UserRow) -> dict[str, Any]:
        values = attributes.model_dump(include=set(USER_FIELDS))
        values["emails"] = _emails(attributes)
        if attributes.active is None:
            values.pop("active")
        if attributes.external_id is None and user.external_id is not None:
            # A PUT that omits externalId keeps the IdP's key: dropping it would let the next
            # create by externalId make a second account.
            values.pop("external_id")
        return values

    async def _replace(self, event: ingest.UserUpserted, user: UserRow) -> Outcome:
        attributes = event.data.attributes
        _check_version(event.data.expected_version, user.version, f"user {user.id}")
        if event.source is Source.RECONCILER:
            # The reconciler only ever turns access back on (jit mode, directory says active).
            if self.tenant.mode is not ProvisioningMode.JIT or attributes.active is not True:
                raise Refused("the reconciler reactivates users only in jit mode")
            values: dict[str, Any] = {"active": True}
        else:
            await self._ensure_unique(user, attributes)
            values = self._scim_values(attributes, user)
            if event.data.expected_version is not None and attributes.external_id is None:
                # A write that names the version it replaces (SCIM PATCH, PUT with If-Match)
                # states the whole resource: there, no externalId means it was removed.
                values["external_id"] = None
        changed = self._assign(user, values)
        if event.source is Source.SCIM and not user.scim_managed:
            user.scim_managed = True
            changed.append("scim_managed")
        return await self._finish_update(event, user, changed)

    async def _finish_update(
        self,
        event: EnvelopeBase,
        user: UserRow,
        changed: list[str],
        *,
        created: bool = False,
        reason: str | None = None,
    ) -> Outcome:
        if not changed:
            return await self._user_outcome(event, user, None, (), created=created)
        kind: type[lifecycle.UserUpdated | lifecycle.UserDeactivated | lifecycle.UserReactivated]
        kind = lifecycle.UserUpdated
        if "active" in changed:
            kind = lifecycle.UserReactivated if user.active else lifecycle.UserDeactivated
            if user.active:
                user.deactivated_reason = None
            else:
                user.deactivated_reason = reason or f"deactivated by {event.source}"
        user.version += 1
        user.updated_at = self.now
        await self._flush()
        self.lookups.remember(user)
        if "emails" in changed:
            await self._write_emails(user)
        return await self._user_outcome(event, user, kind, changed, created=created, reason=reason)

    async def _login(self, event: ingest.UserUpserted) -> Outcome:
        """JIT: rules 2, 5 and 6 for a login (the decision table is in docs/design.md).

        A login finds its account by its identity link (issuer + subject) only. With no link
        yet it may link to an existing account on a verified key (``link_keys``), never on a
        free attribute; otherwise it may only create a new account.
        """
        data = event.data
        attributes = data.attributes
        link = data.identity_link
        if link is None:
            raise Invalid("a login must carry the IdP issuer and subject")
        scim_owns = self.tenant.mode.scim_owns_lifecycle
        user = await self._by_link(link.issuer, link.subject)
        by_own_link = user is not None
        if user is not None and user.deleted_at is not None and not scim_owns:
            user, by_own_link = (
                None,
                False,
            )  # jit mode: an account an admin deleted may be made again
        if user is None:
            user = await self._by_link_keys(event)
        if user is None and scim_owns:
            # Someone SCIM deleted never comes back through a login, whatever key it carries.
            for name in (attributes.user_name, *self._user_name_keys(event)):
                if await self._by_user_name(name) is None and (
                    await self._by_user_name(name, live=False) is not None
                ):
                    raise Deactivated("this account was deleted by the customer's directory")
        if user is not None and user.deleted_at is not None:
            raise Deactivated("this account was deleted by the customer's directory")
        if user is None:
            holder = await self._by_user_name(attributes.user_name)
            if holder is not None:
                # The name is taken, and nothing this login verified says it is that person.
                raise self._link_refused(
                    event,
                    holder,
                    f"userName {attributes.user_name!r} belongs to account {holder.id}, and the "
                    "login carries no verified key for it (a SAML NameID of persistent or e-mail "
                    "format, an OIDC email with email_verified, or the tenant's link mapping)",
                )
            if self.tenant.mode is ProvisioningMode.SCIM:
                raise NotProvisioned(
                    "this person has not been provisioned by the customer's IdP (mode scim)"
                )
            return await self._jit_create(event)
        if not user.active:
            raise Deactivated("this account is deactivated")
        changed = await self._link(user, event)
        if by_own_link and not (user.scim_managed and scim_owns):
            # The person's own link, on an account SCIM does not own: the login is the source.
            fill = self._jit_values(attributes)
            if fill.get("user_name") and fill["user_name"] != user.user_name:
                await self._ensure_unique(user, attributes.model_copy(update={"external_id": None}))
        else:
            # SCIM owns these attributes, or the link is new: fill in only what is empty, so a
            # first login can never rename or re-address the account it joins.
            fill = {
                name: value
                for name, value in self._jit_values(attributes).items()
                if getattr(user, name) in (None, [], {})
            }
        changed += self._assign(user, fill)
        user.last_login_at = data.login_at or self.now
        group_events = await self._sync_login_groups(event, user)
        outcome = await self._finish_update(event, user, changed)
        outcome.events.extend(group_events)
        if not changed:
            await self._flush()
        return outcome

    @staticmethod
    def _user_name_keys(event: ingest.UserUpserted) -> list[str]:
        return [key.value for key in event.data.link_keys if key.match == "user_name"]

    async def _by_link_keys(self, event: ingest.UserUpserted) -> UserRow | None:
        """The account a first login may join: matched on a verified key, and not yet linked
        to another subject of the same IdP connection."""
        link = event.data.identity_link
        assert link is not None
        for key in event.data.link_keys:
            user: UserRow | None
            if key.match == "external_id":
                user = await self._by_external_id(key.value)
            else:
                user = await self._by_user_name(key.value)
                if user is not None and not same_link_key(user.user_name, key.value):
                    user = None  # only a compatibility-folded look-alike
            if user is None and key.verified_email and self.tenant.policy.allow_email_linking:
                user = await self._by_email_value(key.value)
            if user is None:
                continue
            other = await self._link_from(user, link.issuer)
            if other is not None:
                raise self._link_refused(
                    event,
                    user,
                    f"account {user.id} is already linked to another subject of {link.issuer}; "
                    "a login never relinks it (an admin must remove the old link first)",
                )
            return user
        return None

    def _link_refused(self, event: ingest.UserUpserted, user: UserRow, detail: str) -> LinkRefused:
        link = event.data.identity_link
        log.warning(
            "login link refused",
            extra={
                "tenant": self.tenant.slug,
                "user_id": user.id,
                "issuer": link.issuer if link else None,
                "subject": link.subject if link else None,
                "event_id": event.event_id,
                "reason": detail,
            },
        )
        return LinkRefused(detail, existing_id=user.id)

    async def _link_from(self, user: UserRow, issuer: str) -> IdentityLinkRow | None:
        result = await self.session.execute(
            select(IdentityLinkRow)
            .where(
                IdentityLinkRow.tenant_id == self.tenant.id,
                IdentityLinkRow.user_id == user.id,
                IdentityLinkRow.issuer == issuer,
            )
            .limit(1)
        )
        return result.scalars().first()

    def _jit_values(self, attributes: UserAttributes) -> dict[str, Any]:
        values: dict[str, Any] = {"user_name": attributes.user_name}
        for name in ("display_name", "given_name", "family_name"):
            value = getattr(attributes, name)
            if value is not None:
                values[name] = value
        if attributes.emails:
            values["emails"] = _emails(attributes)
        return values

    async def _link(self, user: UserRow, event: ingest.UserUpserted) -> list[str]:
        link = event.data.identity_link
        assert link is not None
        existing = (
            (
                await self.session.execute(
                    select(IdentityLinkRow).where(
                        IdentityLinkRow.tenant_id == self.tenant.id,
                        IdentityLinkRow.issuer == link.issuer,
                        IdentityLinkRow.subject == link.subject,
                    )
                )
            )
            .scalars()
            .first()
        )
        if existing is not None:
            if existing.user_id == user.id:
                return []
            existing.user_id = user.id  # the old account was deleted (jit mode): move the link
            return ["identity_links"]
        self.session.add(
            IdentityLinkRow(
                id=new_id(),
                tenant_id=self.tenant.id,
                user_id=user.id,
                issuer=link.issuer,
                subject=link.subject,
                subject_format=link.subject_format,
                created_at=self.now,
            )
        )
        return ["identity_links"]

    async def _jit_create(self, event: ingest.UserUpserted) -> Outcome:
        attributes = event.data.attributes
        await self._ensure_unique(None, attributes.model_copy(update={"external_id": None}))
        user = UserRow(
            id=new_id(),
            tenant_id=self.tenant.id,
            user_name=attributes.user_name,
            user_name_key=name_key(attributes.user_name),
            external_id=None,
            active=True,
            display_name=attributes.display_name,
            given_name=attributes.given_name,
            family_name=attributes.family_name,
            emails=_emails(attributes),
            extra={},
            origin="jit",
            scim_managed=False,
            version=1,
            created_at=self.now,
            updated_at=self.now,
            last_login_at=event.data.login_at or self.now,
        )
        self.session.add(user)
        await self._flush()
        self.lookups.remember(user)
        await self._write_emails(user, fresh=True)
        await self._link(user, event)
        group_events = await self._sync_login_groups(event, user)
        await self._flush()
        return await self._user_outcome(
            event, user, lifecycle.UserCreated, USER_FIELDS, created=True, extra_events=group_events
        )

    async def _sync_login_groups(
        self, event: ingest.UserUpserted, user: UserRow
    ) -> list[EnvelopeBase]:
        """Memberships of login-made groups follow the assertion; SCIM's groups are SCIM's."""
        names = event.data.groups
        if names is None or not self.tenant.policy.jit_group_sync:
            return []
        await self._flush()
        wanted: dict[str, str] = {name_key(n): n for n in names if n.strip()}
        rows = (
            (
                await self.session.execute(
                    select(GroupRow).where(
                        GroupRow.tenant_id == self.tenant.id,
                        col(GroupRow.display_name_key).in_(list(wanted)),
                    )
                )
            )
            .scalars()
            .all()
        )
        groups = {row.display_name_key: row for row in rows}
        events: list[EnvelopeBase] = []
        for key, name in wanted.items():
            if key not in groups:
                row = GroupRow(
                    id=new_id(),
                    tenant_id=self.tenant.id,
                    display_name=name,
                    display_name_key=key,
                    origin="jit",
                    created_at=self.now,
                    updated_at=self.now,
                )
                self.session.add(row)
                groups[key] = row
                await self._flush()
                events.append(
                    lifecycle.GroupCreated(
                        **self._envelope(event),
                        data=lifecycle.GroupChange(
                            group=await load_group_snapshot(self.session, row),
                            changed=("display_name",),
                            caused_by=event.event_id,
                        ),
                    )
                )
        current = (
            (
                await self.session.execute(
                    select(GroupRow)
                    .join(MembershipRow, col(MembershipRow.group_id) == col(GroupRow.id))
                    .where(MembershipRow.user_id == user.id)
                )
            )
            .scalars()
            .all()
        )
        current_ids = {g.id for g in current}
        for key, group in groups.items():
            if group.origin == "jit" and key in wanted and group.id not in current_ids:
                events.append(await self._add_member(event, group, user))
        for group in current:
            if group.origin == "jit" and group.display_name_key not in wanted:
                events.append(await self._remove_member(event, group, user))
        return events

    async def user_deactivated(self, event: ingest.UserDeactivated) -> Outcome:
        """Take access away (SCIM active=false arrives as an upsert; this is the explicit form)."""
        if event.source is Source.JIT:
            raise Refused("a login cannot deactivate anyone")
        user = await self._live_user(event.data.user_id)
        _check_version(event.data.expected_version, user.version, f"user {user.id}")
        changed = self._assign(user, {"active": False})
        return await self._finish_update(event, user, changed, reason=event.data.reason)

    async def user_deleted(self, event: ingest.UserDeleted) -> Outcome:
        """Soft-delete: the row stays so a login cannot bring the person back (rule 5)."""
        if event.source is Source.JIT:
            raise Refused("a login cannot delete anyone")
        user = await self._live_user(event.data.user_id)
        _check_version(event.data.expected_version, user.version, f"user {user.id}")
        memberships = (
            (
                await self.session.execute(
                    select(GroupRow)
                    .join(MembershipRow, col(MembershipRow.group_id) == col(GroupRow.id))
                    .where(MembershipRow.user_id == user.id)
                )
            )
            .scalars()
            .all()
        )
        extra = [await self._remove_member(event, group, user) for group in memberships]
        user.active = False
        user.deleted_at = self.now
        user.deactivated_reason = event.data.reason or f"deleted by {event.source}"
        user.version += 1
        user.updated_at = self.now
        await self._flush()
        return await self._user_outcome(
            event,
            user,
            lifecycle.UserDeleted,
            ("deleted",),
            reason=event.data.reason,
            extra_events=extra,
        )

    # -- groups --------------------------------------------------------------------------

    async def _live_group(self, group_id: str) -> GroupRow:
        result = await self.session.execute(
            select(GroupRow).where(GroupRow.tenant_id == self.tenant.id, GroupRow.id == group_id)
        )
        row = result.scalars().first()
        if row is None:
            raise NotFound(f"no group {group_id}")
        return row

    async def _members_exist(self, user_ids: Sequence[str]) -> dict[str, UserRow]:
        if not user_ids:
            return {}
        rows = (
            (
                await self.session.execute(
                    select(UserRow).where(
                        UserRow.tenant_id == self.tenant.id,
                        col(UserRow.id).in_(list(user_ids)),
                        col(UserRow.deleted_at).is_(None),
                    )
                )
            )
            .scalars()
            .all()
        )
        found = {row.id: row for row in rows}
        missing = [uid for uid in user_ids if uid not in found]
        if missing:
            raise Invalid(f"no such user(s) to add as members: {', '.join(missing[:5])}")
        return found

    def _membership_event(
        self,
        event: EnvelopeBase,
        group: GroupRow,
        user: UserRow,
        kind: type[lifecycle.MembershipAdded | lifecycle.MembershipRemoved],
    ) -> EnvelopeBase:
        return kind(
            **self._envelope(event),
            data=lifecycle.Membership(
                group_id=group.id,
                group_display_name=group.display_name,
                user_id=user.id,
                user_name=user.user_name,
                caused_by=event.event_id,
            ),
        )

    async def _add_member(
        self, event: EnvelopeBase, group: GroupRow, user: UserRow
    ) -> EnvelopeBase:
        self.session.add(
            MembershipRow(group_id=group.id, user_id=user.id, tenant_id=self.tenant.id)
        )
        return self._membership_event(event, group, user, lifecycle.MembershipAdded)

    async def _remove_member(
        self, event: EnvelopeBase, group: GroupRow, user: UserRow
    ) -> EnvelopeBase:
        await self.session.execute(
            delete(MembershipRow).where(
                MembershipRow.group_id == group.id,  # type: ignore[arg-type]
                MembershipRow.user_id == user.id,  # type: ignore[arg-type]
            )
        )
        return self._membership_event(event, group, user, lifecycle.MembershipRemoved)

    async def _member_ids(self, group: GroupRow) -> set[str]:
        rows = await self.session.execute(
            select(MembershipRow.user_id).where(MembershipRow.group_id == group.id)
        )
        return set(rows.scalars().all())

    async def _set_members(
        self, event: EnvelopeBase, group: GroupRow, add: Sequence[str], remove: Sequence[str]
    ) -> list[EnvelopeBase]:
        current = await self._member_ids(group)
        to_add = [uid for uid in dict.fromkeys(add) if uid not in current]
        to_remove = [uid for uid in dict.fromkeys(remove) if uid in current]
        users = await self._members_exist(to_add)
        events = [await self._add_member(event, group, users[uid]) for uid in to_add]
        if to_remove:
            removed = (
                (await self.session.execute(select(UserRow).where(col(UserRow.id).in_(to_remove))))
                .scalars()
                .all()
            )
            events += [await self._remove_member(event, group, user) for user in removed]
        return events

    async def _group_unique(
        self, group: GroupRow | None, name: str, external_id: str | None
    ) -> None:
        own_id = group.id if group else None
        clash = (
            (
                await self.session.execute(
                    select(GroupRow).where(
                        GroupRow.tenant_id == self.tenant.id,
                        GroupRow.display_name_key == name_key(name),
                    )
                )
            )
            .scalars()
            .first()
        )
        if clash is not None and clash.id != own_id:
            raise Uniqueness(
                f"displayName {name!r} is taken by group {clash.id}", existing_id=clash.id
            )
        if external_id:
            clash = (
                (
                    await self.session.execute(
                        select(GroupRow).where(
                            GroupRow.tenant_id == self.tenant.id,
                            GroupRow.external_id == external_id,
                        )
                    )
                )
                .scalars()
                .first()
            )
            if clash is not None and clash.id != own_id:
                raise Uniqueness(
                    f"externalId {external_id!r} is taken by group {clash.id}", existing_id=clash.id
                )

    async def _group_outcome(
        self,
        event: EnvelopeBase,
        group: GroupRow,
        kind: type[lifecycle.GroupCreated | lifecycle.GroupUpdated | lifecycle.GroupDeleted] | None,
        changed: Sequence[str],
        member_events: Sequence[EnvelopeBase],
        *,
        created: bool = False,
        snapshot: GroupSnapshot | None = None,
    ) -> Outcome:
        await self._flush()
        snapshot = snapshot or await load_group_snapshot(self.session, group)
        outcome = Outcome(
            reply=Reply(
                request_id=event.event_id, tenant_id=self.tenant.id, group=snapshot, created=created
            )
        )
        if kind is not None:
            outcome.events.append(
                kind(
                    **self._envelope(event),
                    data=lifecycle.GroupChange(
                        group=snapshot, changed=tuple(changed), caused_by=event.event_id
                    ),
                )
            )
        outcome.events.extend(member_events)
        return outcome

    def _group_touched(
        self, group: GroupRow, changed: list[str], member_events: Sequence[EnvelopeBase]
    ) -> bool:
        if changed or member_events:
            group.version += 1
            group.updated_at = self.now
            return True
        return False

    async def group_upserted(self, event: ingest.GroupUpserted) -> Outcome:
        """SCIM POST (create) or PUT (replace, members included when given)."""
        self._refuse_login_source(event)
        data = event.data
        if data.target_id is None:
            await self._group_unique(None, data.display_name, data.external_id)
            group = GroupRow(
                id=new_id(),
                tenant_id=self.tenant.id,
                display_name=data.display_name,
                display_name_key=name_key(data.display_name),
                external_id=data.external_id,
                extra=dict(data.extra),
                origin="scim" if event.source is Source.SCIM else "admin",
                created_at=self.now,
                updated_at=self.now,
            )
            self.session.add(group)
            await self._flush()
            member_events = await self._set_members(event, group, data.member_ids or (), ())
            return await self._group_outcome(
                event,
                group,
                lifecycle.GroupCreated,
                ("display_name", "external_id", "members"),
                member_events,
                created=True,
            )
        group = await self._live_group(data.target_id)
        _check_version(data.expected_version, group.version, f"group {group.id}")
        await self._group_unique(group, data.display_name, data.external_id)
        changed = []
        for name, value in (("display_name", data.display_name), ("extra", dict(data.extra))):
            if getattr(group, name) != value:
                setattr(group, name, value)
                changed.append(name)
        if data.external_id != group.external_id and (
            data.external_id is not None or data.expected_version is not None
        ):
            # As for users: only a write at a known version may remove externalId.
            group.external_id = data.external_id
            changed.append("external_id")
        group.display_name_key = name_key(group.display_name)
        if group.origin == "jit" and event.source is Source.SCIM:
            group.origin = "scim"
            changed.append("origin")
        member_events = []
        if data.member_ids is not None:
            current = await self._member_ids(group)
            member_events = await self._set_members(
                event,
                group,
                data.member_ids,
                [uid for uid in current if uid not in set(data.member_ids)],
            )
        touched = self._group_touched(group, changed, member_events)
        return (
            await self._group_outcome(
                event,
                group,
                lifecycle.GroupUpdated if changed else None,
                changed,
                member_events,
            )
            if touched
            else await self._group_outcome(event, group, None, (), ())
        )

    async def group_members_changed(self, event: ingest.GroupMembersChanged) -> Outcome:
        """SCIM PATCH: add and remove members (only those named), maybe rename."""
        self._refuse_login_source(event)
        data = event.data
        group = await self._live_group(data.group_id)
        _check_version(data.expected_version, group.version, f"group {group.id}")
        changed = []
        if data.display_name is not None and data.display_name != group.display_name:
            await self._group_unique(group, data.display_name, None)
            group.display_name = data.display_name
            group.display_name_key = name_key(data.display_name)
            changed.append("display_name")
        member_events = await self._set_members(event, group, data.add, data.remove)
        self._group_touched(group, changed, member_events)
        return await self._group_outcome(
            event, group, lifecycle.GroupUpdated if changed else None, changed, member_events
        )

    async def group_deleted(self, event: ingest.GroupDeleted) -> Outcome:
        """Delete a group and its memberships."""
        self._refuse_login_source(event)
        group = await self._live_group(event.data.group_id)
        _check_version(event.data.expected_version, group.version, f"group {group.id}")
        snapshot = await load_group_snapshot(self.session, group)
        await self.session.execute(delete(MembershipRow).where(MembershipRow.group_id == group.id))  # type: ignore[arg-type]
        await self.session.delete(group)
        return await self._group_outcome(
            event, group, lifecycle.GroupDeleted, ("deleted",), (), snapshot=snapshot
        )

    @staticmethod
    def _refuse_login_source(event: EnvelopeBase) -> None:
        if event.source is Source.JIT:
            raise Refused("logins change groups only through their assertion's group claims")
