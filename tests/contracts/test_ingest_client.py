"""The ingest client (``roster_shared.bus.ingest``) on both buses: one suite, two subclasses.

A stand-in user-store answers each ingestion event the way the real one does: a reply keyed by
the event id on the replies topic, refused (``ErrorCode.REFUSED``) when the event's reason says
so. The client must return every reply, applied or refused, and raise only its typed errors
when the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from roster_shared.bus import Bus, BusError, Message, Record, Requester
from roster_shared.bus.ingest import IngestClient, IngestTimeout, IngestUnavailable
from roster_shared.bus.requests import RequestTimeout
from roster_shared.events import ingest
from roster_shared.events.envelope import EnvelopeBase, Source
from roster_shared.events.replies import REPLY_ADAPTER, ErrorCode, Reply, ReplyError
from roster_shared.topics import TopicSpec

from tests.contracts.buses import contract_kafka_bus, contract_memory_bus

BusFactory = Callable[[], Bus]
OnEvent = Callable[[dict[str, object]], Awaitable[None]]


def unique(name: str) -> str:
    return f"contract.ingest.{name}.{uuid.uuid4().hex[:10]}"


def deactivation(reason: str = "left the company", tenant: str = "tenant-1") -> EnvelopeBase:
    return ingest.UserDeactivated(
        tenant_id=tenant,
        source=Source.RECONCILER,
        data=ingest.UserRef(user_id=uuid.uuid4().hex, reason=reason),
    )


class IngestClientContract:
    """Tests the ingest client must pass on every bus. Not collected itself (no ``Test``)."""

    wait_timeout = 30.0

    @pytest.fixture
    def bus_factory(self) -> BusFactory:
        raise NotImplementedError

    @pytest.fixture
    async def bus(self, bus_factory: BusFactory) -> AsyncIterator[Bus]:
        bus = bus_factory()
        await bus.start()
        try:
            yield bus
        finally:
            await bus.stop()

    @pytest.fixture
    async def topics(self, bus: Bus) -> tuple[str, str]:
        """(ingest topic, replies topic), fresh for the test."""
        names = unique("ingest"), unique("replies")
        await bus.ensure_topics([TopicSpec(name, 2) for name in names])
        return names

    @pytest.fixture
    async def requester(self, bus: Bus, topics: tuple[str, str]) -> AsyncIterator[Requester]:
        requester = Requester(bus, topic=topics[1])
        await requester.start()
        try:
            yield requester
        finally:
            await requester.stop()

    async def user_store(
        self, bus: Bus, topics: tuple[str, str], on_event: OnEvent | None = None
    ) -> None:
        """Answer every event on the ingest topic; ``on_event`` runs first (and may not return)."""
        ingest_topic, replies = topics

        async def answer(batch: Sequence[Message]) -> None:
            out = []
            for message in batch:
                assert message.value is not None
                event = json.loads(message.value)
                # The client sent the event as the codec does: keyed by tenant, typed header.
                assert message.key == event["tenant_id"]
                assert message.header("event-type") == event["type"].encode()
                if on_event is not None:
                    await on_event(event)
                error = None
                if event["data"]["reason"] == "refuse":
                    error = ReplyError(code=ErrorCode.REFUSED, detail="not today")
                reply = Reply(
                    request_id=event["event_id"], tenant_id=event["tenant_id"], error=error
                )
                out.append(Record(replies, reply.request_id, REPLY_ADAPTER.dump_json(reply)))
            await bus.send_batch(out)

        await bus.subscribe(unique("user-store"), [ingest_topic], answer).start()

    # -- a reply comes back ------------------------------------------------------------------

    async def test_submit_returns_the_reply_to_the_event(
        self, bus: Bus, topics: tuple[str, str], requester: Requester
    ) -> None:
        await self.user_store(bus, topics)
        client = IngestClient(requester, topics[0], self.wait_timeout)
        event = deactivation()
        reply = await client.submit(event)
        assert reply.request_id == event.event_id
        assert reply.tenant_id == "tenant-1"
        assert reply.ok

    async def test_a_refusal_is_a_reply_not_an_error(
        self, bus: Bus, topics: tuple[str, str], requester: Requester
    ) -> None:
        # Mapping ErrorCode onto a protocol is the caller's: the client hands the reply over.
        await self.user_store(bus, topics)
        reply = await IngestClient(requester, topics[0], self.wait_timeout).submit(
            deactivation("refuse")
        )
        assert not reply.ok
        assert reply.error is not None
        assert reply.error.code is ErrorCode.REFUSED
        assert reply.error.detail == "not today"

    async def test_concurrent_submits_each_get_their_own_reply(
        self, bus: Bus, topics: tuple[str, str], requester: Requester
    ) -> None:
        await self.user_store(bus, topics)
        client = IngestClient(requester, topics[0], self.wait_timeout)
        events = [deactivation(tenant=f"tenant-{n}") for n in range(10)]
        replies = await asyncio.gather(*(client.submit(event) for event in events))
        assert [r.request_id for r in replies] == [e.event_id for e in events]
        assert [r.tenant_id for r in replies] == [f"tenant-{n}" for n in range(10)]

    # -- the outcome is unknown: typed errors ------------------------------------------------

    async def test_no_reply_in_time_is_an_ingest_timeout(
        self, topics: tuple[str, str], requester: Requester
    ) -> None:
        # Nobody answers.
        client = IngestClient(requester, topics[0], 0.5)
        started = asyncio.get_running_loop().time()
        with pytest.raises(IngestTimeout) as caught:
            await client.submit(deactivation())
        assert asyncio.get_running_loop().time() - started < 5
        # Still what callers caught before the client existed.
        assert isinstance(caught.value, IngestUnavailable)
        assert isinstance(caught.value, RequestTimeout)
        assert isinstance(caught.value.__cause__, RequestTimeout)

    async def test_a_requester_stopped_while_waiting_is_an_ingest_timeout(
        self, bus: Bus, topics: tuple[str, str], requester: Requester
    ) -> None:
        async def stop_requester(event: dict[str, object]) -> None:
            # The event arrived, so the request is pending: the process shuts down now.
            await requester.stop()

        await self.user_store(bus, topics, stop_requester)
        with pytest.raises(IngestTimeout, match="requester stopped"):
            await IngestClient(requester, topics[0], self.wait_timeout).submit(deactivation())

    async def test_a_bus_error_is_ingest_unavailable(
        self, bus: Bus, topics: tuple[str, str]
    ) -> None:
        # A requester that was never started cannot hear a reply: the bus refuses the request.
        client = IngestClient(Requester(bus, topic=topics[1]), topics[0], self.wait_timeout)
        with pytest.raises(IngestUnavailable, match="requester not started") as caught:
            await client.submit(deactivation())
        assert not isinstance(caught.value, IngestTimeout)
        assert isinstance(caught.value, BusError)
        assert isinstance(caught.value.__cause__, BusError)


class TestIngestClientMemory(IngestClientContract):
    @pytest.fixture
    def bus_factory(self) -> BusFactory:
        return contract_memory_bus


class TestIngestClientKafka(IngestClientContract):
    @pytest.fixture
    def bus_factory(self, kafka_bootstrap: str) -> BusFactory:
        return lambda: contract_kafka_bus(kafka_bootstrap, "roster-contract-ingest")

    async def test_a_refused_send_is_ingest_unavailable(
        self, bus: Bus, topics: tuple[str, str], requester: Requester
    ) -> None:
        # The broker refuses the record (too large for the topic): sent nowhere, not a timeout.
        small = unique("small")
        await bus.ensure_topics([TopicSpec(small, 1, {"max.message.bytes": "1024"})])
        event = ingest.GroupUpserted(
            tenant_id="tenant-1",
            source=Source.SCIM,
            data=ingest.GroupUpsertedData(display_name="big", extra={"blob": "x" * 10_000}),
        )
        with pytest.raises(IngestUnavailable, match="send failed") as caught:
            await IngestClient(requester, small, self.wait_timeout).submit(event)
        assert not isinstance(caught.value, IngestTimeout)
