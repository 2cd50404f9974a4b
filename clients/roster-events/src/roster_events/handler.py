"""What an application implements to receive users and events, and how repeats are recognised."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from roster_shared.events.people import UserSnapshot

from roster_events.decoding import LifecycleEvent, UnsupportedEvent


class Handler(Protocol):
    """The application's side. Every method may be called again for the same input after a crash
    or a rebalance (at-least-once): make each one idempotent, e.g. upsert by id and version.

    A method that raises is retried with backoff, from the same record; nothing after it is
    handed over, and nothing is committed, until it returns.
    """

    async def on_snapshot(self, user: UserSnapshot) -> None:
        """Bootstrap: the latest state of one user, from the compacted ``roster.users``."""

    async def on_gone(self, tenant_id: str, user_id: str) -> None:
        """Bootstrap: a user deleted (a tombstone in ``roster.users``): forget it if held."""

    async def on_event(self, event: LifecycleEvent) -> None:
        """A lifecycle event, in the tenant's order."""

    async def on_unsupported(self, problem: UnsupportedEvent) -> None:
        """Only with ``skip_unsupported``: a record that was skipped, and why."""


class Deduplicator(Protocol):
    """Remembers which event ids were handled, so a redelivered event is not handed over twice.

    The strongest place to remember an id is the application's own database, in the same
    transaction as the change the event caused (see ``examples/user_mirror``): then ``remember``
    has nothing left to do. :class:`MemoryDeduplicator` covers redeliveries within one process.
    """

    async def seen(self, event_id: str) -> bool:
        """Whether the event was handled already."""

    async def remember(self, event_id: str) -> None:
        """Called after the handler returned for the event."""


class MemoryDeduplicator:
    """The last ``size`` event ids handled, in memory (lost at restart)."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    async def seen(self, event_id: str) -> bool:
        """Whether the id is among the last ``size`` handled."""
        return event_id in self._ids

    async def remember(self, event_id: str) -> None:
        """Remember the id, forgetting the oldest beyond ``size``."""
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
