"""Replies leave right after the commit that recorded them, not through the outbox.

A reply is a notice to one waiting requester (a SCIM POST, a login), not a canonical change: the
change and the reply are stored together in ``processed_events``, in the transaction that applies
the event, and that row is what makes the reply durable. Sending it through the outbox added a
second transaction (the relay's read, publish, delete) between the commit and the requester, and
measurably most of a create's latency (issue 10, ``bench/compare.py``).

So the consumer sends the batch's replies itself once its transaction has committed, before it
returns and so before the bus commits the offset:

* a send that fails raises out of the handler; the batch is not acknowledged, comes back, finds
  every event in ``processed_events`` and sends the stored replies again;
* a crash between the database commit and the send is the same redelivery;
* lifecycle events, ``roster.users`` snapshots and dead letters still leave through the outbox,
  so a canonical change and its events are never one without the other.

A requester may therefore see its reply before the lifecycle events of the same change are on
``roster.lifecycle``; the reply always reports a committed change (read-your-writes holds: a GET
after the reply reads the committed row).
"""

from __future__ import annotations

from collections.abc import Sequence

from roster_shared.bus.base import Bus, Record


class ReplySender:
    """Sends a committed batch's replies straight to the bus (acknowledged, ``acks=all``)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self.sent = 0

    async def send(self, replies: Sequence[Record]) -> None:
        """Send and wait for the broker's acknowledgement; raises the bus's error if it fails."""
        if not replies:
            return
        await self._bus.send_batch(replies)
        self.sent += len(replies)
