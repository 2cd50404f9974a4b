"""The bus: one interface (``base``), Kafka (``kafka``) and in-process (``memory``) versions."""

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
