"""Consume Roster's user lifecycle: bootstrap a tenant's users from ``roster.users``, then follow
``roster.lifecycle``, with decoded, versioned events, de-duplicated by event id, and offsets
committed only after your handler returns. The guide: ``docs/consuming-events.md``.
"""

from roster_events.bus import follow_bus
from roster_events.decoding import SUPPORTED_VERSIONS, LifecycleEvent, UnsupportedEvent
from roster_events.dispatch import Dispatcher, Stats
from roster_events.handler import Deduplicator, Handler, MemoryDeduplicator
from roster_events.kafka import ConsumerConfig, LifecycleConsumer, tenant_partition
from roster_events.positions import GroupActive, Moved, reset_group

__all__ = [
    "SUPPORTED_VERSIONS",
    "ConsumerConfig",
    "Deduplicator",
    "Dispatcher",
    "GroupActive",
    "Handler",
    "LifecycleConsumer",
    "LifecycleEvent",
    "MemoryDeduplicator",
    "Moved",
    "Stats",
    "UnsupportedEvent",
    "follow_bus",
    "reset_group",
    "tenant_partition",
]
