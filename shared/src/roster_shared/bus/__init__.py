"""The bus: one interface (``base``), Kafka (``kafka``) and in-process (``memory``) versions.

On top of any bus, ``requests`` pairs a record with its reply, and ``ingest`` (imported from
``roster_shared.bus.ingest``, not from here: the event codec imports this package) submits one
ingestion event to the user-store and returns its reply.
"""

from roster_shared.bus.base import BatchHandler, Bus, BusError, Message, Record, Subscription
from roster_shared.bus.kafka import KafkaBus
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester, RequestTimeout

__all__ = [
    "BatchHandler",
    "Bus",
    "BusError",
    "KafkaBus",
    "MemoryBus",
    "Message",
    "Record",
    "RequestTimeout",
    "Requester",
    "Subscription",
]
