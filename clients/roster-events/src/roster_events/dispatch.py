"""From a record to the application's handler: tenant filter, decoding, de-duplication, and the
guard that keeps events older than the bootstrap snapshot away from the application.

Both consumers (Kafka, and the embedded bus) hand records through one :class:`Dispatcher`, so
they keep the same rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from roster_shared.events import lifecycle
from roster_shared.events.people import UserSnapshot

from roster_events.decoding import LifecycleEvent, UnsupportedEvent, decode_event, decode_snapshot
from roster_events.handler import Deduplicator, Handler, MemoryDeduplicator
from roster_events.tolerant import IgnoredFields

log = logging.getLogger(__name__)

USER_EVENTS = (
    lifecycle.UserCreated,
    lifecycle.UserUpdated,
    lifecycle.UserDeactivated,
    lifecycle.UserReactivated,
    lifecycle.UserDeleted,
)


@dataclass
class Stats:
    """Counters an application may log or expose."""

    snapshots: int = 0
    gone: int = 0
    events: int = 0
    duplicates: int = 0
    older_than_snapshot: int = 0
    other_tenants: int = 0
    unsupported: int = 0
    handler_failures: int = 0
    ignored_fields: int = 0
    """Unknown fields set aside (tolerant reader); which ones: ``Dispatcher.ignored.counts``."""


class Dispatcher:
    """Hands one tenant's (or every tenant's, with ``tenant_id`` None) records to a handler."""

    def __init__(
        self,
        handler: Handler,
        *,
        tenant_id: str | None,
        dedup: Deduplicator | None = None,
        skip_unsupported: bool = False,
    ) -> None:
        self.handler = handler
        self.tenant_id = tenant_id
        self.dedup: Deduplicator = dedup or MemoryDeduplicator()
        self.skip_unsupported = skip_unsupported
        self.stats = Stats()
        self.ignored = IgnoredFields()
        # After a bootstrap, the version each user had in the snapshot (None: deleted). The
        # first lifecycle records read after it may be older than the snapshot; they are not
        # handed over, so the application never goes back in time.
        self._snapshot: dict[str, int | None] = {}

    def wants(self, key: str | None) -> bool:
        """Whether a ``roster.lifecycle`` record with this key (a tenant id) is for us."""
        return self.tenant_id is None or key == self.tenant_id

    def wants_snapshot(self, key: str) -> bool:
        """Whether a ``roster.users`` key (``tenant:user``) is one of our tenant's users."""
        return self.tenant_id is None or key.startswith(f"{self.tenant_id}:")

    async def snapshot(self, key: str, value: bytes | None) -> None:
        """One user's latest state (``value`` None: deleted) from the bootstrap."""
        tenant_id, _, user_id = key.partition(":")
        if value is None:
            self._snapshot[user_id] = None
            await self.handler.on_gone(tenant_id, user_id)
            self.stats.gone += 1
            return
        try:
            user: UserSnapshot = decode_snapshot(value, self.ignored)
        except UnsupportedEvent as problem:
            await self._unsupported(problem)
            return
        finally:
            self.stats.ignored_fields = self.ignored.total
        self._snapshot[user.id] = user.version
        await self.handler.on_snapshot(user)
        self.stats.snapshots += 1

    async def record(self, key: str | None, value: bytes | None) -> None:
        """One ``roster.lifecycle`` record; returns once handled (or skipped, and why)."""
        if not self.wants(key):
            self.stats.other_tenants += 1
            return
        try:
            event = decode_event(value, self.ignored)
        except UnsupportedEvent as problem:
            await self._unsupported(problem)
            return
        finally:
            self.stats.ignored_fields = self.ignored.total
        if await self.dedup.seen(event.event_id):
            self.stats.duplicates += 1
            return
        if self._older_than_snapshot(event):
            self.stats.older_than_snapshot += 1
            return
        try:
            await self.handler.on_event(event)
        except Exception:
            self.stats.handler_failures += 1
            raise
        await self.dedup.remember(event.event_id)
        self.stats.events += 1

    def _older_than_snapshot(self, event: LifecycleEvent) -> bool:
        if not self._snapshot or not isinstance(event, USER_EVENTS):
            return False
        user = event.data.user
        if user.id not in self._snapshot:
            return False
        known = self._snapshot[user.id]
        if known is None:
            return True  # deleted for good: ids are never reused
        if user.version > known:
            del self._snapshot[user.id]  # past the snapshot for this user from here on
            return False
        return True

    async def _unsupported(self, problem: UnsupportedEvent) -> None:
        self.stats.unsupported += 1
        if not self.skip_unsupported:
            raise problem
        log.warning("skipped a record this consumer cannot decode: %s", problem.reason)
        await self.handler.on_unsupported(problem)
