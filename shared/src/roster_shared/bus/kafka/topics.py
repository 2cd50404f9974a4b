"""Kafka topic administration: create the missing topics, wait for leaders, list partitions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from roster_shared.bus.base import BusError
from roster_shared.bus.kafka.options import KafkaOptions
from roster_shared.topics import TopicSpec


class TopicAdmin:
    """One aiokafka admin client configured by :class:`KafkaOptions`."""

    def __init__(self, options: KafkaOptions) -> None:
        self._options = options
        self._admin = options.admin()

    async def start(self) -> None:
        """Connect (raises aiokafka's ``KafkaError``; the bus turns it into a ``BusError``)."""
        await self._admin.start()

    async def close(self) -> None:
        """Disconnect."""
        await self._admin.close()

    async def ensure(self, specs: Iterable[TopicSpec]) -> None:
        """Create missing topics; returns once every topic's partitions have leaders."""
        specs = list(specs)
        if not specs:
            return
        new_topics = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=self._options.replication,
                topic_configs=dict(spec.config),
            )
            for spec in specs
        ]
        try:
            response = await self._admin.create_topics(new_topics)
        except KafkaError as exc:
            raise BusError(f"cannot create topics: {exc}") from exc
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            error = for_code(code)
            if code == 0 or error is TopicAlreadyExistsError:
                continue
            detail = entry[2] if len(entry) > 2 else ""
            raise BusError(f"cannot create topic {name}: {error.__name__} {detail or ''}".strip())
        await self._wait_for([spec.name for spec in specs])

    async def _wait_for(self, names: list[str]) -> None:
        deadline = time.monotonic() + self._options.start_timeout
        while True:
            try:
                described = await self._admin.describe_topics(names)
            except KafkaError as exc:
                described, last = [], str(exc)
            else:
                last = ""
            missing = set(names)
            for topic in described:
                partitions = topic.get("partitions") or []
                if (
                    topic.get("error_code") == 0
                    and partitions
                    and all(p.get("leader", -1) >= 0 for p in partitions)
                ):
                    missing.discard(topic["topic"])
            if not missing:
                return
            if time.monotonic() > deadline:
                raise BusError(f"topics not ready: {sorted(missing)} {last}".strip())
            await asyncio.sleep(0.05)

    async def partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic``, empty if it does not exist (never auto-creates it)."""
        # Asking for every topic: a metadata request naming a missing topic would create it
        # when the broker allows auto-creation.
        for described in await self._admin.describe_topics():
            if described["topic"] == topic and described["error_code"] == 0:
                return sorted(p["partition"] for p in described["partitions"])
        return []

    async def reachable(self, timeout: float) -> bool:  # noqa: ASYNC109 - a probe's own bound
        """True when the cluster answers a metadata request within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._admin.describe_cluster()
        except Exception:  # unreachable, timed out, or not connected: all mean "not now"
            return False
        return True
