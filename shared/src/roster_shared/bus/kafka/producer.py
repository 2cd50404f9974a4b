"""The sending side of the Kafka bus: an idempotent ``acks=all`` producer whose sends are bounded.

An idempotent producer retries through a broker outage for as long as it takes; a caller that
holds an HTTP request cannot wait that long, so every ``send_batch`` is bounded by the options'
``send_timeout`` and a send that does not finish in time is a :class:`BusError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from roster_shared.bus.base import BusError, Record
from roster_shared.bus.kafka.options import KafkaOptions


class Producer:
    """One aiokafka producer configured by :class:`KafkaOptions`."""

    def __init__(self, options: KafkaOptions) -> None:
        self._options = options
        self._producer = options.producer()

    async def start(self) -> None:
        """Connect (raises aiokafka's ``KafkaError``; the bus turns it into a ``BusError``)."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush what is in flight and disconnect."""
        await self._producer.stop()

    async def send_batch(self, records: Sequence[Record]) -> None:
        """Send all records, then wait until the broker acknowledged every one (``acks=all``)."""
        if not records:
            return
        producer = self._producer
        timeout = self._options.send_timeout

        async def send_all() -> None:
            futures = [
                await producer.send(
                    record.topic,
                    value=record.value,
                    key=record.key.encode("utf-8"),
                    headers=list(record.headers) or None,
                )
                for record in records
            ]
            await asyncio.gather(*futures)

        try:
            await asyncio.wait_for(send_all(), timeout)
        except TimeoutError as exc:
            raise BusError(
                f"{len(records)} record(s) not acknowledged within {timeout:g}s"
            ) from exc
        except KafkaError as exc:
            raise BusError(f"send failed: {exc}") from exc
