"""The applier: one object per event that routes it to the rules that decide it."""

from __future__ import annotations

from roster_shared.events import ingest
from roster_shared.events.envelope import Source
from roster_shared.tenants import ProvisioningMode

from user_store.apply.logins import Logins
from user_store.apply.outcomes import Outcome
from user_store.apply.scim_users import ScimUsers
from user_store.errors import Invalid, Refused


class Applier(ScimUsers, Logins):
    """Applies one ingestion event for one tenant within an open session.

    Composed of one mixin per idea: look-ups (:mod:`.resolution`), the SCIM user lifecycle
    (:mod:`.scim_users`), logins (:mod:`.logins`), groups (:mod:`.groups`), outcomes and events
    (:mod:`.outcomes`) and row writes (:mod:`.writes`), over one :class:`.ApplyContext`.
    """

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
