"""What a run publishes: one ingestion event per decision (source ``reconciler``, the run as
correlation id, the reason), sent in batches — or, with a requester, each awaited for the
user-store's reply so that the record says what became of it.

The reconciler never writes the database: a deactivation is a ``UserDeactivated`` event, a
reactivation a ``UserUpserted`` with ``active`` true, both applied by the user-store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from roster_shared.bus.base import Bus
from roster_shared.bus.ingest import IngestClient, IngestTimeout
from roster_shared.bus.requests import Requester
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import EnvelopeBase, Source
from roster_shared.events.people import UserAttributes, UserSnapshot
from roster_shared.tenants import TenantInfo
from roster_shared.topics import Topics

from reconciler.records import Action

CONFIRMING = 64
"""Replies awaited at once when confirming."""


def event_for(tenant: TenantInfo, run_id: str, action: Action) -> EnvelopeBase:
    """The ingestion event that carries out ``action``."""
    if action.action == "reactivate":
        return ingest.UserUpserted(
            tenant_id=tenant.id,
            source=Source.RECONCILER,
            correlation_id=run_id,
            data=ingest.UserUpsertedData(
                attributes=UserAttributes(user_name=action.user_name, active=True),
                target_id=action.user_id,
            ),
        )
    return ingest.UserDeactivated(
        tenant_id=tenant.id,
        source=Source.RECONCILER,
        correlation_id=run_id,
        data=ingest.UserRef(user_id=action.user_id, reason=action.reason),
    )


def event_if_needed(
    tenant: TenantInfo, run_id: str, user: UserSnapshot, action: Action
) -> EnvelopeBase | None:
    """The event for ``action`` unless the user is already where it would put them (a held
    run's users are re-read when it is approved)."""
    if (action.action == "deactivate") != user.active:
        return None
    return event_for(tenant, run_id, action)


class Publisher:
    """Sends a run's events to the ingest topic and notes each action's outcome."""

    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        *,
        chunk: int = 1000,
        requester: Requester | None = None,
        confirm_timeout: float = 30.0,
    ) -> None:
        self.bus = bus
        self.topics = topics
        self.chunk = chunk
        self.requester = requester
        self.confirm_timeout = confirm_timeout

    async def publish(self, pairs: Sequence[tuple[Action, EnvelopeBase]]) -> None:
        """Publish the events; with a requester, wait for the user-store's replies and put
        each outcome in the record (``applied`` or why not)."""
        if self.requester is None:
            for start in range(0, len(pairs), self.chunk):
                chunk = pairs[start : start + self.chunk]
                await self.bus.send_batch(
                    [event_record(self.topics.ingest, event) for _, event in chunk]
                )
                for action, _ in chunk:
                    action.outcome = "published"
            return
        client = IngestClient(self.requester, self.topics.ingest, self.confirm_timeout)
        limit = asyncio.Semaphore(CONFIRMING)

        async def confirm(action: Action, event: EnvelopeBase) -> None:
            async with limit:
                try:
                    reply = await client.submit(event)
                except IngestTimeout:
                    action.outcome = "published (no reply yet)"
                    return
            action.outcome = "applied" if reply.ok else f"refused: {reply.error.detail}"  # type: ignore[union-attr]

        await asyncio.gather(*(confirm(action, event) for action, event in pairs))
