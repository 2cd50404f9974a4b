"""The embedded variant: the same handler over a :class:`roster_shared.bus.base.Bus`.

For an application running in the same process as ``roster dev`` (the in-process bus) or one
that already holds a Roster bus. A consumer group of the embedded bus starts at the first record
the process saw, so there is no separate bootstrap: the whole lifecycle since start is replayed.
On Kafka use :class:`~roster_events.kafka.LifecycleConsumer`, which bootstraps from
``roster.users`` (a group would otherwise start at the topic's retention horizon).
"""

from __future__ import annotations

from collections.abc import Sequence

from roster_shared.bus.base import Bus, Message, Subscription
from roster_shared.topics import Topics

from roster_events.dispatch import Dispatcher
from roster_events.handler import Deduplicator, Handler


def follow_bus(
    bus: Bus,
    group: str,
    handler: Handler,
    *,
    tenant_id: str | None = None,
    topics: Topics | None = None,
    dedup: Deduplicator | None = None,
) -> tuple[Subscription, Dispatcher]:
    """A subscription (call ``start()``) handing ``roster.lifecycle`` to ``handler``."""
    dispatcher = Dispatcher(handler, tenant_id=tenant_id, dedup=dedup)

    async def on_batch(messages: Sequence[Message]) -> None:
        for message in messages:
            await dispatcher.record(message.key, message.value)

    subscription = bus.subscribe(group, [(topics or Topics()).lifecycle], on_batch)
    return subscription, dispatcher
