"""The bus contract (``roster_shared.bus.base``), one suite for every implementation.

Subclass :class:`BusContract`, provide a ``bus_factory`` fixture returning a fresh, unstarted
:class:`Bus`, and implement :meth:`BusContract.topic_info`. Every test makes its own topics and
groups with a random suffix, so the suites can share one broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import pytest
from roster_shared.bus import Bus, Message, Record, Requester, RequestTimeout
from roster_shared.events.replies import REPLY_ADAPTER, Reply
from roster_shared.topics import USERS, TopicSpec, roster_topics

BusFactory = Callable[[], Bus]


def unique(name: str) -> str:
    return f"contract.{name}.{uuid.uuid4().hex[:10]}"


def rec(
    topic: str, key: str, value: str | None, headers: tuple[tuple[str, bytes], ...] = ()
) -> Record:
    return Record(topic, key, value.encode() if value is not None else None, headers)


def text(message: Message) -> str:
    assert message.value is not None, message
    return message.value.decode()


MARKER = "marker:"
"""Values of the markers a test sends after what must not happen (see :meth:`BusContract.drain`)."""


def is_marker(message: Message) -> bool:
    return message.value is not None and message.value.startswith(MARKER.encode())


class Inbox:
    """A handler that keeps every batch it was given.

    ``batches`` is what the bus delivered, markers included; ``messages`` and ``values()`` leave
    the markers out, and ``markers`` is the set of those seen.
    """

    def __init__(self) -> None:
        self.batches: list[list[Message]] = []
        self.markers: set[str] = set()

    async def __call__(self, batch: Sequence[Message]) -> None:
        self.batches.append(list(batch))
        self.markers.update(text(m) for m in batch if is_marker(m))

    @property
    def messages(self) -> list[Message]:
        return [m for batch in self.batches for m in batch if not is_marker(m)]

    def values(self) -> list[str]:
        return [text(m) for m in self.messages]


def by_key(messages: Sequence[Message]) -> dict[str | None, list[str]]:
    grouped: dict[str | None, list[str]] = defaultdict(list)
    for message in messages:
        grouped[message.key].append(text(message))
    return dict(grouped)


def positions(messages: Sequence[Message]) -> Counter[tuple[str, int, int]]:
    return Counter((m.topic, m.partition, m.offset) for m in messages)


class BusContract:
    """Tests every :class:`Bus` must pass. Not collected itself (no ``Test`` prefix)."""

    #: How long a test waits for something that should happen.
    wait_timeout = 30.0

    # -- what a concrete suite provides -----------------------------------------------------

    @pytest.fixture
    def bus_factory(self) -> BusFactory:
        raise NotImplementedError

    async def topic_info(self, bus: Bus, name: str) -> tuple[int, dict[str, str]] | None:
        """(partition count, configuration) of an existing topic, None if there is none."""
        raise NotImplementedError

    def bus_with_backoff(self, seconds: float) -> Bus:
        """A fresh, unstarted bus whose retry backoff is ``seconds``, first to last."""
        raise NotImplementedError

    def partition_of(self, key: str, partitions: int) -> int:
        """The partition the bus puts ``key`` in."""
        raise NotImplementedError

    async def join_under_way(self, bus: Bus, group: str) -> None:
        """Return once a member joining ``group`` has set off its rebalance: the members
        already in it have been asked to give partitions up and have not finished."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    @pytest.fixture
    async def bus(self, bus_factory: BusFactory) -> AsyncIterator[Bus]:
        bus = bus_factory()
        await bus.start()
        try:
            yield bus
        finally:
            await bus.stop()

    async def topic(self, bus: Bus, name: str = "t", partitions: int = 4) -> str:
        topic = unique(name)
        await bus.ensure_topics([TopicSpec(topic, partitions)])
        return topic

    async def eventually(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = asyncio.get_running_loop().time() + self.wait_timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {self.wait_timeout:g}s waiting for {what}")
            await asyncio.sleep(0.01)

    async def drain(
        self, bus: Bus, topic: str, keys: Iterable[str | None], *inboxes: Inbox
    ) -> set[str]:
        """Send a marker on every key in ``keys`` and wait until ``inboxes`` have them all.

        What a test asserts did *not* happen (a redelivery, a duplicate, an old record read) would
        come on one of these keys, and a key's records are handled in offset order, each batch
        committed before the next of its partition: once a key's marker is handled, nothing sent
        on that key before it can still arrive. So the test asserts after the markers, not after
        a sleep. Returns the markers sent.
        """
        markers = {
            key: f"{MARKER}{key}:{uuid.uuid4().hex[:8]}" for key in sorted({k for k in keys if k})
        }
        await bus.send_batch([rec(topic, key, marker) for key, marker in markers.items()])
        wanted = set(markers.values())
        await self.eventually(
            lambda: wanted <= set().union(*(inbox.markers for inbox in inboxes)),
            f"the markers on {sorted(markers)}",
        )
        return wanted

    # -- ordering ----------------------------------------------------------------------------

    async def test_per_key_order_in_one_batch(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        keys = [f"tenant-{i}" for i in range(6)]
        records = [rec(topic, key, f"{key}:{n}") for n in range(60) for key in keys]
        await bus.send_batch(records)

        inbox = Inbox()
        sub = bus.subscribe(unique("g"), [topic], inbox, max_batch=25)
        await sub.start()
        await self.eventually(lambda: len(inbox.messages) >= len(records), "every record")
        await self.drain(bus, topic, keys, inbox)
        await sub.stop()

        assert len(inbox.messages) == len(records)
        assert by_key(inbox.messages) == {k: [f"{k}:{n}" for n in range(60)] for k in keys}
        for batch in inbox.batches:
            assert 1 <= len(batch) <= 25
            assert len({(m.topic, m.partition) for m in batch}) == 1, "one partition per batch"
            offsets = [m.offset for m in batch]
            assert offsets == sorted(offsets)

    async def test_per_key_order_across_batches_while_consuming(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        inbox = Inbox()
        sub = bus.subscribe(unique("g"), [topic], inbox, max_batch=7)
        await sub.start()

        keys = [f"tenant-{i}" for i in range(5)]
        sent = 0
        for batch_no in range(6):
            records = [
                rec(topic, key, f"{key}:{batch_no * 10 + n}") for n in range(10) for key in keys
            ]
            await bus.send_batch(records)
            sent += len(records)
        await bus.send(rec(topic, keys[0], f"{keys[0]}:60"))
        sent += 1

        await self.eventually(lambda: len(inbox.messages) >= sent, "every record")
        await self.drain(bus, topic, keys, inbox)
        await sub.stop()

        expected = {k: [f"{k}:{n}" for n in range(60)] for k in keys}
        expected[keys[0]].append(f"{keys[0]}:60")
        assert by_key(inbox.messages) == expected
        assert max(positions(inbox.messages).values()) == 1
        assert all(len(batch) <= 7 for batch in inbox.batches)

    # -- group membership ----------------------------------------------------------------------

    async def test_new_group_reads_from_the_beginning_and_keeps_up(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        await bus.send_batch([rec(topic, "a", "before-1"), rec(topic, "b", "before-2")])

        inbox = Inbox()
        sub = bus.subscribe(unique("g"), [topic], inbox)
        await sub.start()
        assert sub.ready.is_set()
        await bus.send_batch([rec(topic, "a", "after-1"), rec(topic, "c", "after-2")])

        await self.eventually(lambda: len(inbox.messages) >= 4, "four records")
        await self.drain(bus, topic, ["a", "b", "c"], inbox)
        await sub.stop()
        assert sorted(inbox.values()) == ["after-1", "after-2", "before-1", "before-2"]
        assert by_key(inbox.messages)["a"] == ["before-1", "after-1"]

    async def test_two_members_split_the_partitions(self, bus: Bus) -> None:
        topic = await self.topic(bus, partitions=4)
        group = unique("g")
        first, second = Inbox(), Inbox()
        sub1 = bus.subscribe(group, [topic], first)
        sub2 = bus.subscribe(group, [topic], second)
        await sub1.start()
        await sub2.start()

        records = [rec(topic, f"tenant-{n % 24}", f"m{n}") for n in range(120)]
        await bus.send_batch(records)
        await self.eventually(
            lambda: len(first.messages) + len(second.messages) >= len(records), "every record"
        )
        await self.drain(bus, topic, (r.key for r in records), first, second)
        await sub1.stop()
        await sub2.stop()

        everything = first.messages + second.messages
        assert sorted(text(m) for m in everything) == sorted(f"m{n}" for n in range(120))
        assert max(positions(everything).values()) == 1, "delivered twice"
        partitions1 = {m.partition for m in first.messages}
        partitions2 = {m.partition for m in second.messages}
        assert partitions1 and partitions2, "both members got work"
        assert not partitions1 & partitions2, "a partition is owned by one member"

    async def test_rebalance_waits_for_the_batch_in_hand(self, bus: Bus) -> None:
        """A member joining while another handles a batch of a partition it is about to take
        over starts after that batch's commit: nothing is delivered twice."""
        topic = await self.topic(bus, partitions=4)
        group = unique("g")
        records = [rec(topic, f"tenant-{n % 24}", f"m{n}") for n in range(96)]
        await bus.send_batch(records)

        release = asyncio.Event()
        blocked = asyncio.Event()
        first = Inbox()
        partitions_seen: list[int] = []

        async def slow(batch: Sequence[Message]) -> None:
            # Hold the batch of the second partition seen (the first one an assignor that
            # keeps its first member's lowest partition is likely to move).
            if batch[0].partition not in partitions_seen:
                partitions_seen.append(batch[0].partition)
            if len(partitions_seen) == 2 and not release.is_set():
                blocked.set()
                await release.wait()
            await first(batch)

        second = Inbox()
        sub1 = bus.subscribe(group, [topic], slow, max_batch=5)
        await sub1.start()
        await asyncio.wait_for(blocked.wait(), self.wait_timeout)
        sub2 = bus.subscribe(group, [topic], second, max_batch=5)
        joining = asyncio.create_task(sub2.start())
        await asyncio.wait_for(self.join_under_way(bus, group), self.wait_timeout)
        release.set()
        await asyncio.wait_for(joining, self.wait_timeout)

        await self.eventually(
            lambda: len({text(m) for m in first.messages + second.messages}) >= len(records),
            "every record",
        )
        await self.drain(bus, topic, (r.key for r in records), first, second)
        await sub1.stop()
        await sub2.stop()
        everything = first.messages + second.messages
        assert max(positions(everything).values()) == 1, "delivered twice"
        assert len(everything) == len(records)

    # -- at-least-once -------------------------------------------------------------------------

    async def test_failed_batch_is_redelivered_then_never_again(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        await bus.send_batch([rec(topic, "tenant", f"m{n}") for n in range(5)])

        attempts: list[list[Message]] = []
        handled = Inbox()

        async def flaky(batch: Sequence[Message]) -> None:
            attempts.append(list(batch))
            if len(attempts) <= 2:
                raise RuntimeError("database unavailable")
            await handled(batch)

        sub = bus.subscribe(unique("g"), [topic], flaky)
        await sub.start()
        await self.eventually(lambda: len(handled.messages) >= 5, "the redelivery")
        failed = attempts[0]
        assert attempts[1][0].offset == failed[0].offset, "retried from the failed batch's start"
        first_success = handled.batches[0]
        assert first_success[0].offset == failed[0].offset
        assert [m.offset for m in first_success[: len(failed)]] == [m.offset for m in failed]

        await bus.send_batch([rec(topic, "tenant", f"m{n}") for n in range(5, 8)])
        await self.eventually(lambda: len(handled.messages) >= 8, "the later records")
        await self.drain(bus, topic, ["tenant"], handled)
        await sub.stop()
        assert handled.values() == [f"m{n}" for n in range(8)], "once each after the retry"

    async def test_committed_offsets_survive_a_restart(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        group = unique("g")
        await bus.send_batch([rec(topic, "tenant", f"m{n}") for n in range(10)])

        first = Inbox()
        sub1 = bus.subscribe(group, [topic], first, max_batch=3)
        await sub1.start()
        await self.eventually(lambda: len(first.messages) >= 10, "ten records")
        await sub1.stop()
        assert first.values() == [f"m{n}" for n in range(10)]

        await bus.send(rec(topic, "tenant", "m10"))
        second = Inbox()
        sub2 = bus.subscribe(group, [topic], second)
        await sub2.start()
        await self.eventually(lambda: "m10" in second.values(), "the new record")
        await self.drain(bus, topic, ["tenant"], second)
        await sub2.stop()
        assert second.values() == ["m10"], "committed records were delivered again"

        other = Inbox()
        sub3 = bus.subscribe(unique("other"), [topic], other)
        await sub3.start()
        await self.eventually(lambda: len(other.messages) >= 11, "everything, in another group")
        await self.drain(bus, topic, ["tenant"], other)
        await sub3.stop()
        assert other.values() == [f"m{n}" for n in range(11)]

    async def test_crash_between_handler_and_commit_redelivers(self, bus: Bus) -> None:
        """The handler finishes its side effect, then the member dies before its loop gets to
        commit: the next member of the group must get that batch again."""
        topic = await self.topic(bus)
        group = unique("g")
        effects: list[str] = []
        crashed_batch: list[Message] = []
        crashed = asyncio.Event()

        async def handler(batch: Sequence[Message]) -> None:
            effects.extend(text(m) for m in batch)  # the side effect, e.g. a database commit
            if any(text(m) == "m3" for m in batch):
                crashed_batch.extend(batch)
                crashed.set()
                task = asyncio.current_task()
                assert task is not None
                task.cancel()  # the process dies here, before the handler returns
                await asyncio.Event().wait()

        sub1 = bus.subscribe(group, [topic], handler)
        await sub1.start()
        await bus.send_batch([rec(topic, "tenant", f"m{n}") for n in range(3)])
        await self.eventually(lambda: len(effects) >= 3, "the first records")
        # Batches of one partition are handled one after the other, each one's commit sent
        # before the next is handed over (and waited for before the member leaves): m0..m2
        # are committed once the handler sees m3 and the member is gone.
        await bus.send_batch([rec(topic, "tenant", f"m{n}") for n in range(3, 6)])
        await asyncio.wait_for(crashed.wait(), self.wait_timeout)
        await sub1.stop()  # releases the partitions; must not commit what was not committed

        second = Inbox()
        sub2 = bus.subscribe(group, [topic], second)
        await sub2.start()
        await self.eventually(lambda: "m5" in second.values(), "the redelivery")
        await self.drain(bus, topic, ["tenant"], second)
        await sub2.stop()
        assert effects[:3] == ["m0", "m1", "m2"]
        assert crashed_batch[0].offset == second.messages[0].offset
        assert second.values() == ["m3", "m4", "m5"], "only the uncommitted batch and later"

    # -- listen --------------------------------------------------------------------------------

    async def test_listen_reads_only_what_is_sent_after_start(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        await bus.send_batch([rec(topic, f"k{n}", f"old-{n}") for n in range(8)])

        for attempt in range(3):
            inbox = Inbox()
            listener = bus.listen(topic, inbox)
            await listener.start()
            assert listener.ready.is_set()
            # Sent the moment start() returns, on every key used before: none may be missed,
            # and the old records on the same partitions must not show up before them.
            await bus.send_batch([rec(topic, f"k{n}", f"new-{attempt}-{n}") for n in range(8)])
            await self.eventually(lambda: len(inbox.messages) >= 8, "the new records")  # noqa: B023
            markers = await self.drain(bus, topic, [f"k{n}" for n in range(8)], inbox)
            await listener.stop()
            assert sorted(inbox.values()) == sorted(f"new-{attempt}-{n}" for n in range(8))
            assert inbox.markers == markers, "an earlier attempt's markers were read"

    async def test_listener_skips_what_its_handler_failed_on(self, bus: Bus) -> None:
        """Listening is best effort (whoever waits for a reply times out): a handler error
        must not stall the listener on that message."""
        topic = await self.topic(bus)
        seen: list[str] = []

        async def picky(batch: Sequence[Message]) -> None:
            values = [text(m) for m in batch]
            seen.extend(values)
            if "bad" in values:
                raise ValueError("not a reply")

        listener = bus.listen(topic, picky)
        await listener.start()
        await bus.send(rec(topic, "k", "bad"))
        await self.eventually(lambda: "bad" in seen, "the bad record")
        await bus.send(rec(topic, "k", "good"))
        await self.eventually(lambda: "good" in seen, "the record after it")
        await listener.stop()
        assert seen.count("bad") == 1
        assert seen[-1] == "good"

    async def test_two_listeners_each_see_everything(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        first, second = Inbox(), Inbox()
        listener1, listener2 = bus.listen(topic, first), bus.listen(topic, second)
        await listener1.start()
        await listener2.start()
        await bus.send_batch([rec(topic, f"k{n}", f"m{n}") for n in range(10)])
        await self.eventually(
            lambda: len(first.messages) >= 10 and len(second.messages) >= 10, "both copies"
        )
        await listener1.stop()
        await listener2.stop()
        assert (
            sorted(first.values()) == sorted(second.values()) == sorted(f"m{n}" for n in range(10))
        )

    # -- request / reply -----------------------------------------------------------------------

    async def _responder(self, bus: Bus, requests: str, replies: str) -> None:
        async def answer(batch: Sequence[Message]) -> None:
            out = []
            for message in batch:
                assert message.key is not None
                request_id = text(message)
                reply = Reply(request_id=request_id, tenant_id=message.key, created=True)
                out.append(Record(replies, request_id, REPLY_ADAPTER.dump_json(reply)))
            await bus.send_batch(out)

        await bus.subscribe(unique("responder"), [requests], answer).start()

    async def test_request_gets_its_reply(self, bus: Bus) -> None:
        requests, replies = await self.topic(bus, "requests"), await self.topic(bus, "replies")
        await self._responder(bus, requests, replies)
        requester = Requester(bus, topic=replies)
        await requester.start()
        try:
            request_id = uuid.uuid4().hex
            reply = await requester.request(
                rec(requests, "tenant-1", request_id), request_id, timeout=self.wait_timeout
            )
            assert reply.request_id == request_id
            assert reply.tenant_id == "tenant-1"
            assert reply.ok and reply.created
        finally:
            await requester.stop()

    async def test_concurrent_requests_each_get_their_own_reply(self, bus: Bus) -> None:
        requests, replies = await self.topic(bus, "requests"), await self.topic(bus, "replies")
        await self._responder(bus, requests, replies)
        requester = Requester(bus, topic=replies)
        await requester.start()
        try:
            ids = [uuid.uuid4().hex for _ in range(20)]
            results = await asyncio.gather(
                *(
                    requester.request(
                        rec(requests, f"tenant-{n}", rid), rid, timeout=self.wait_timeout
                    )
                    for n, rid in enumerate(ids)
                )
            )
            assert [r.request_id for r in results] == ids
            assert [r.tenant_id for r in results] == [f"tenant-{n}" for n in range(20)]
        finally:
            await requester.stop()

    async def test_request_without_responder_times_out(self, bus: Bus) -> None:
        requests, replies = await self.topic(bus, "requests"), await self.topic(bus, "replies")
        requester = Requester(bus, topic=replies)
        await requester.start()
        try:
            request_id = uuid.uuid4().hex
            started = asyncio.get_running_loop().time()
            with pytest.raises(RequestTimeout):
                await requester.request(
                    rec(requests, "tenant", request_id), request_id, timeout=0.5
                )
            assert asyncio.get_running_loop().time() - started < 5
        finally:
            await requester.stop()

    # -- records -------------------------------------------------------------------------------

    async def test_tombstones_and_headers_round_trip(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        headers = (("event-type", b"user.deleted"), ("binary", b"\x00\xff"), ("event-type", b"x"))
        await bus.send_batch(
            [
                rec(topic, "tenant:user-1", "snapshot", headers),
                Record(topic, "tenant:user-1", None),
                Record(topic, "tenant:\u00fcser-2", b""),
            ]
        )
        inbox = Inbox()
        sub = bus.subscribe(unique("g"), [topic], inbox)
        await sub.start()
        await self.eventually(lambda: len(inbox.messages) >= 3, "three records")
        await sub.stop()

        messages = sorted(inbox.messages, key=lambda m: (m.key or "", m.offset))
        snapshot, tombstone, empty = messages
        assert (snapshot.key, snapshot.value, snapshot.headers) == (
            "tenant:user-1",
            b"snapshot",
            headers,
        )
        assert snapshot.header("event-type") == b"user.deleted"
        assert snapshot.header("missing") is None
        assert (tombstone.key, tombstone.value, tombstone.headers) == ("tenant:user-1", None, ())
        assert (empty.key, empty.value) == ("tenant:\u00fcser-2", b"")
        assert tombstone.offset > snapshot.offset
        assert snapshot.timestamp_ms > 0

    # -- topics --------------------------------------------------------------------------------

    async def test_ensure_topics_creates_roster_topics_once(self, bus: Bus) -> None:
        prefix = unique("env") + "."
        specs = roster_topics(partitions=3, prefix=prefix)
        assert all(spec.name.startswith(prefix) for spec in specs)
        for spec in specs:
            assert await self.topic_info(bus, spec.name) is None
        await bus.ensure_topics(specs)
        await bus.ensure_topics(specs)  # idempotent

        for spec in specs:
            info = await self.topic_info(bus, spec.name)
            assert info is not None, spec.name
            partitions, config = info
            assert partitions == spec.partitions
            for name, value in spec.config.items():
                assert config.get(name) == value, (spec.name, name)
        users = await self.topic_info(bus, prefix + USERS)
        assert users is not None
        assert users[1]["cleanup.policy"] == "compact"

    # -- poison and liveness (issue 12) ------------------------------------------------------

    async def test_a_failing_partition_does_not_delay_the_others(self) -> None:
        # A backoff far longer than the test: had the failure held up the whole loop, not one
        # of the other partitions' records would be handled in time.
        bus = self.bus_with_backoff(120.0)
        await bus.start()
        try:
            topic = await self.topic(bus, partitions=4)
            bad = self.partition_of("bad", 4)
            good = [k for k in (f"good{n}" for n in range(40)) if self.partition_of(k, 4) != bad]
            attempts: list[int] = []
            handled = Inbox()

            async def handler(batch: Sequence[Message]) -> None:
                if batch[0].partition == bad:
                    attempts.append(batch[0].offset)
                    raise RuntimeError("poison")
                await handled(batch)

            sub = bus.subscribe(unique("g"), [topic], handler)
            await sub.start()
            await bus.send(rec(topic, "bad", "poison"))
            await self.eventually(lambda: bool(attempts), "the failing attempt")
            await bus.send_batch([rec(topic, key, key) for key in good])
            await self.eventually(lambda: len(handled.messages) == len(good), "the others")
            assert sorted(handled.values()) == sorted(good)
            assert attempts == [0], "the failing partition waits out its own backoff"
            assert sub.alive, "a handler's exception never ends the subscription"
            waiting = [p for p in sub.progress() if p.partition == bad and p.topic == topic]
            assert waiting and waiting[0].lag == 1, sub.progress()
            await sub.stop()
            assert not sub.alive
        finally:
            await bus.stop()

    async def test_progress_reports_lag_and_stalls(self, bus: Bus) -> None:
        topic = await self.topic(bus, partitions=2)
        release = asyncio.Event()
        stuck = self.partition_of("stuck", 2)

        async def handler(batch: Sequence[Message]) -> None:
            if batch[0].partition == stuck and not release.is_set():
                raise RuntimeError("not yet")

        sub = bus.subscribe(unique("g"), [topic], handler)
        await sub.start()
        await bus.send_batch([rec(topic, "stuck", f"s{n}") for n in range(3)])

        def stalled() -> bool:
            return any(
                p.partition == stuck and p.lag == 3 and p.stalled_for > 0.3 for p in sub.progress()
            )

        await self.eventually(stalled, "the stuck partition to report its stall")
        release.set()
        await self.eventually(
            lambda: (
                all(p.lag == 0 and p.stalled_for == 0 for p in sub.progress())
                and any(p.partition == stuck and p.position == 3 for p in sub.progress())
            ),
            "the partition to catch up",
        )
        await sub.stop()

    async def test_a_loop_that_dies_is_reported(self, bus: Bus) -> None:
        topic = await self.topic(bus)
        deaths: list[str] = []
        sub = bus.subscribe(unique("g"), [topic], Inbox())
        sub.on_death = deaths.append
        await sub.start()
        assert sub.alive
        task = sub._task  # type: ignore[attr-defined]
        task.cancel()  # stands in for a bug that ends the loop
        await self.eventually(lambda: bool(deaths), "the death to be reported")
        assert not sub.alive and sub.death == deaths[0]
        await sub.stop()
        assert len(deaths) == 1
