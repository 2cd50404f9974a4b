"""JIT: what a login (SAML, OIDC) does to the account it signs in as — docs/design.md rules 2
and 6, and its decision table "What a login does". A login finds its account by its identity
link, may join an existing account only on a verified link key, and never takes over, renames or
brings back an account SCIM owns.
"""

from __future__ import annotations

import logging
from typing import Any

from roster_shared.events import ingest, lifecycle
from roster_shared.events.envelope import new_id
from roster_shared.events.people import UserAttributes
from roster_shared.tenants import ProvisioningMode
from sqlmodel import select

from user_store import hot_reads
from user_store.apply.groups import Groups
from user_store.apply.login_groups import login_group_plan, wanted_groups
from user_store.apply.outcomes import Outcome
from user_store.apply.resolution import Resolution
from user_store.apply.writes import USER_FIELDS, email_values, new_row
from user_store.errors import Deactivated, Invalid, LinkRefused, NotProvisioned
from user_store.identity import name_key, same_link_key
from user_store.snapshots import linked_snapshot
from user_store.tables import IdentityLinkRow, UserRow

log = logging.getLogger(__name__)


def jit_values(attributes: UserAttributes) -> dict[str, Any]:
    """The user columns a login's attributes speak for."""
    values: dict[str, Any] = {"user_name": attributes.user_name}
    for name in ("display_name", "given_name", "family_name"):
        value = getattr(attributes, name)
        if value is not None:
            values[name] = value
    if attributes.emails:
        values["emails"] = email_values(attributes)
    return values


def user_name_keys(data: ingest.UserUpsertedData) -> list[str]:
    """A login's verified keys that match an account's userName (rule 2)."""
    return [key.value for key in data.link_keys if key.match == "user_name"]


def login_fill(
    user: UserRow, attributes: UserAttributes, *, own_link: bool, scim_owns: bool
) -> dict[str, Any]:
    """The columns a login found its account by would set (rule 6). The write path and the
    returning-login read (``user_store.login_reads``) both decide with this one function."""
    if own_link and not (user.scim_managed and scim_owns):
        # The person's own link, on an account SCIM does not own: the login is the source.
        return jit_values(attributes)
    # SCIM owns these attributes, or the link is new: fill in only what is empty, so a first
    # login can never rename or re-address the account it joins.
    return {
        name: value
        for name, value in jit_values(attributes).items()
        if getattr(user, name) in (None, [], {})
    }


class Logins(Resolution, Groups):
    """User events from a login (source ``jit``)."""

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
        by_own_link = linked = user is not None  # no user: no link row either (FK, autoflush)
        if user is not None and user.deleted_at is not None and not scim_owns:
            # jit mode: an account an admin deleted may be made again.
            user, by_own_link = None, False
        if user is None:
            user = await self._by_link_keys(event)
        if user is None and scim_owns:
            # Someone SCIM deleted never comes back through a login, whatever key it carries.
            for name in (attributes.user_name, *user_name_keys(data)):
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
            return await self._jit_create(event, linked=linked)
        if not user.active:
            raise Deactivated("this account is deactivated")
        if by_own_link:
            unchanged = await self._unchanged_login(event, user)
            if unchanged is not None:
                return unchanged
        # Found by its own link: the link row is there already, no need to look it up again.
        changed = [] if by_own_link else await self._link(user, event, linked=linked)
        fill = login_fill(user, attributes, own_link=by_own_link, scim_owns=scim_owns)
        if fill.get("user_name") and fill["user_name"] != user.user_name:
            # Only on the person's own link to an account SCIM does not own (login_fill).
            await self._ensure_unique(user, attributes.model_copy(update={"external_id": None}))
        changed += self._assign(user, fill)
        user.last_login_at = data.login_at or self.now
        group_events = await self._sync_login_groups(event, user)
        outcome = await self._finish_update(event, user, changed)
        outcome.events.extend(group_events)
        if not changed:
            await self._flush()
        return outcome

    async def _unchanged_login(self, event: ingest.UserUpserted, user: UserRow) -> Outcome | None:
        """A returning login that changes nothing but the last login (most logins): one
        statement reads the account's links and groups and the groups the login names, and the
        apply is the one ``UPDATE`` of ``last_login_at``. Its outcome is the general path's for
        the same login — the reply with the account's snapshot, no lifecycle event — and it is
        decided by the same functions (``login_fill``, ``login_group_plan``); None when the
        login changes anything else, and the general path applies it.
        """
        data = event.data
        fill = login_fill(
            user, data.attributes, own_link=True, scim_owns=self.tenant.mode.scim_owns_lifecycle
        )
        if any(getattr(user, name) != value for name, value in fill.items()):
            return None
        names = data.groups
        syncs_groups = names is not None and self.tenant.policy.jit_group_sync
        await self._flush()  # the statement reads the database, not the session
        found = await hot_reads.account_groups(
            self.session, user.id, list(wanted_groups(names or ())) if syncs_groups else []
        )
        if found is None:
            return None
        if (
            syncs_groups
            and not login_group_plan(
                names or (), existing=found.named, member_of=found.member_of
            ).settled
        ):
            return None
        user.last_login_at = data.login_at or self.now
        await self._flush()
        snapshot = linked_snapshot(user, found.links, found.groups)
        return await self._user_outcome(event, user, None, (), snapshot=snapshot)

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

    async def _link(
        self, user: UserRow, event: ingest.UserUpserted, *, linked: bool = True
    ) -> list[str]:
        """Link ``user`` to the login's (issuer, subject). ``linked=False``: this login's own
        ``_by_link`` found no link, so there is none to look up or move."""
        link = event.data.identity_link
        assert link is not None
        existing = None
        if linked:
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
            self.lookups.remember_link(self.tenant.id, link.issuer, link.subject, user)
            return ["identity_links"]
        self.session.add(
            new_row(
                IdentityLinkRow,
                id=new_id(),
                tenant_id=self.tenant.id,
                user_id=user.id,
                issuer=link.issuer,
                subject=link.subject,
                subject_format=link.subject_format,
                created_at=self.now,
            )
        )
        self.lookups.remember_link(self.tenant.id, link.issuer, link.subject, user)
        return ["identity_links"]

    async def _jit_create(self, event: ingest.UserUpserted, *, linked: bool = True) -> Outcome:
        attributes = event.data.attributes
        await self._ensure_unique(None, attributes.model_copy(update={"external_id": None}))
        user = new_row(
            UserRow,
            id=new_id(),
            tenant_id=self.tenant.id,
            user_name=attributes.user_name,
            user_name_key=name_key(attributes.user_name),
            external_id=None,
            active=True,
            display_name=attributes.display_name,
            given_name=attributes.given_name,
            family_name=attributes.family_name,
            emails=email_values(attributes),
            extra={},
            origin="jit",
            scim_managed=False,
            version=1,
            created_at=self.now,
            updated_at=self.now,
            last_login_at=event.data.login_at or self.now,
        )
        if self.link_check is not None:
            # The account and its link are inserted by the next flush (the ORM's, before any
            # read; the batch's, at its end), in either order — for a batch of new logins one
            # INSERT per table, not two round trips per login. A refusal then aborts the
            # batch, and the safe pass flushes here, where it becomes a reply. (Deferred
            # before the account is added: the statement that defers it flushes the session.)
            await self.link_check.defer(self.session)
        self.session.add(user)
        if self.link_check is None:
            await self._flush()
        self.lookups.remember(user)
        await self._write_emails(user, fresh=True)
        await self._link(user, event, linked=linked)
        group_events = await self._sync_login_groups(event, user)
        snapshot = None
        if not linked and not group_events:
            # A new account whose only link is the one just made, in no group (every join is
            # a membership event): its snapshot needs no read back.
            link = event.data.identity_link
            assert link is not None
            snapshot = linked_snapshot(user, [link], [])
        if self.link_check is None:
            await self._flush()
        return await self._user_outcome(
            event,
            user,
            lifecycle.UserCreated,
            USER_FIELDS,
            created=True,
            extra_events=group_events,
            snapshot=snapshot,
        )
