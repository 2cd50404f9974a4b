"""The SCIM user lifecycle (docs/design.md rules 1, 3, 4, 5): create, adopt the account a login
made, replace, deactivate and soft-delete — and the reconciler's one write, a reactivation in
``jit`` mode.
"""

from __future__ import annotations

from typing import Any

from roster_shared.events import ingest, lifecycle
from roster_shared.events.envelope import Source, new_id
from roster_shared.events.people import UserAttributes
from roster_shared.tenants import ProvisioningMode
from sqlmodel import col, select

from user_store.apply.groups import Groups
from user_store.apply.outcomes import Outcome
from user_store.apply.resolution import Resolution
from user_store.apply.writes import USER_FIELDS, check_version, email_values, new_row
from user_store.errors import Refused, Uniqueness
from user_store.identity import name_key
from user_store.snapshots import user_snapshot
from user_store.tables import GroupRow, MembershipRow, UserRow


class ScimUsers(Resolution, Groups):
    """User events from SCIM, the admin API and the reconciler."""

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
            # Rule 3: a SCIM create adopts the account a login made: one person, one account.
            changed = self._assign(existing, self._scim_values(attributes, existing))
            existing.scim_managed = True
            changed.append("scim_managed")
            return await self._finish_update(event, existing, changed, created=True)
        user = new_row(
            UserRow,
            id=new_id(),
            tenant_id=self.tenant.id,
            user_name=attributes.user_name,
            user_name_key=name_key(attributes.user_name),
            external_id=attributes.external_id,
            active=True if attributes.active is None else attributes.active,
            display_name=attributes.display_name,
            given_name=attributes.given_name,
            family_name=attributes.family_name,
            emails=email_values(attributes),
            extra=attributes.extra,
            origin="scim" if event.source is Source.SCIM else "admin",
            scim_managed=event.source is Source.SCIM,
            version=1,
            created_at=self.now,
            updated_at=self.now,
        )
        if self.new_users is not None:
            self.new_users.append(user)
        else:
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
        values["emails"] = email_values(attributes)
        if attributes.active is None:
            values.pop("active")
        if attributes.external_id is None and user.external_id is not None:
            # A PUT that omits externalId keeps the IdP's key: dropping it would let the next
            # create by externalId make a second account.
            values.pop("external_id")
        return values

    async def _replace(self, event: ingest.UserUpserted, user: UserRow) -> Outcome:
        attributes = event.data.attributes
        check_version(event.data.expected_version, user.version, f"user {user.id}")
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

    async def user_deactivated(self, event: ingest.UserDeactivated) -> Outcome:
        """Take access away (SCIM active=false arrives as an upsert; this is the explicit form)."""
        if event.source is Source.JIT:
            raise Refused("a login cannot deactivate anyone")
        user = await self._live_user(event.data.user_id)
        check_version(event.data.expected_version, user.version, f"user {user.id}")
        changed = self._assign(user, {"active": False})
        return await self._finish_update(event, user, changed, reason=event.data.reason)

    async def user_deleted(self, event: ingest.UserDeleted) -> Outcome:
        """Soft-delete: the row stays so a login cannot bring the person back (rule 6)."""
        if event.source is Source.JIT:
            raise Refused("a login cannot delete anyone")
        user = await self._live_user(event.data.user_id)
        check_version(event.data.expected_version, user.version, f"user {user.id}")
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
