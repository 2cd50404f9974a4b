"""Submitting one ingestion event to the user-store and waiting for its reply, typed.

scim-api, sso-login and the reconciler all do the same round trip: turn the event into a record
on the ingestion topic, send it through a :class:`~roster_shared.bus.requests.Requester` keyed
by the event id, and wait a bounded time for the :class:`~roster_shared.events.replies.Reply`.
:class:`IngestClient` does it once. What the reply *means* stays with each caller: a reply with
an ``error`` is returned as it is, and each service maps its ``ErrorCode`` onto its own protocol
(a SCIM ``scimType``, a login page). What the client raises is only "the outcome is unknown":

* :class:`IngestTimeout` — the event was sent but no reply came in time (or the requester
  stopped while waiting); the user-store may still apply it later;
* :class:`IngestUnavailable` — its base, also raised when the bus could not take the event
  (broker unreachable, send not acknowledged in time, requester not started).

Both are :class:`~roster_shared.bus.base.BusError`\\s, and :class:`IngestTimeout` is a
:class:`~roster_shared.bus.requests.RequestTimeout`, so code that caught those keeps working.
Ingestion events are idempotent (the user-store records each event id), so submitting the same
event again after either error is safe.

Imported as ``roster_shared.bus.ingest``, not from ``roster_shared.bus``: the event codec
imports the bus's base, and the bus package must not import the codec back.
"""

from __future__ import annotations

from roster_shared.bus.base import BusError
from roster_shared.bus.requests import Requester, RequestTimeout
from roster_shared.deadline import remaining
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import EnvelopeBase
from roster_shared.events.replies import Reply


class IngestUnavailable(BusError):
    """The event's outcome is unknown: the bus did not take it, or no reply came in time."""


class IngestTimeout(IngestUnavailable, RequestTimeout):
    """The event was sent but its reply did not arrive in time; it may still be applied."""


class IngestClient:
    """Submits ingestion events to ``topic``; the send and the reply wait together take at most
    ``timeout`` seconds, and at most what is left of the request's deadline
    (:mod:`roster_shared.deadline`).

    ``requester`` must be started (it reads the replies topic); the client neither starts nor
    stops it, so one requester serves every client of a process.
    """

    def __init__(self, requester: Requester, topic: str, timeout: float) -> None:
        self.requester = requester
        self.topic = topic
        self.timeout = timeout

    async def submit(self, event: EnvelopeBase) -> Reply:
        """Send ``event`` and return the user-store's reply to it, whether applied or refused.

        Raises :class:`IngestTimeout` when no reply came within the timeout and
        :class:`IngestUnavailable` when the bus could not send the event.
        """
        record = event_record(self.topic, event)
        # The send and the wait share what is left of the request's deadline, if any.
        budget = remaining(self.timeout)
        if budget <= 0:
            raise IngestTimeout("the request's deadline passed before the event was sent")
        try:
            return await self.requester.request(record, event.event_id, timeout=budget)
        except RequestTimeout as exc:
            raise IngestTimeout(str(exc)) from exc
        except BusError as exc:
            raise IngestUnavailable(str(exc)) from exc

    async def publish(self, event: EnvelopeBase) -> None:
        """Send ``event`` and return once the bus has taken it, without waiting for the
        user-store to apply it: for an event whose outcome the caller already knows (a
        returning login's last-login record). Raises :class:`IngestUnavailable` when the bus
        did not take it in time; the event is then not sent, or sent and idempotent."""
        record = event_record(self.topic, event)
        budget = remaining(self.timeout)
        if budget <= 0:
            raise IngestUnavailable("the request's deadline passed before the event was sent")
        try:
            await self.requester.send(record, timeout=budget)
        except BusError as exc:
            raise IngestUnavailable(str(exc)) from exc
