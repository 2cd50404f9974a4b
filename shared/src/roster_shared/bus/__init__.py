"""The bus: one interface (``base``), Kafka (``kafka``) and in-process (``memory``) implementations."""

from roster_shared.bus.base import BatchHandler, Bus, BusError, Message, Record, Subscription
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester, RequestTimeout

__all__ = [
    "BatchHandler",
    "Bus",
    "BusError",
    "MemoryBus",
    "Message",
    "Record",
    "RequestTimeout",
    "Requester",
    "Subscription",
]
