"""Benchmark: what one batch of ``roster.ingest`` costs the user-store's consumer, by batch size.

A login or a lone SCIM request is a batch of one; ingest's batches hold hundreds. This runs the
ingest consumer (``IngestProcessor``) in this process on PostgreSQL — no broker: the records are
handed to it as the bus would, the relay only kicked — on batches of new-user logins (``jit``,
the default) or SCIM creates (``scim``), and prints wall time and this process's CPU per batch
and per event for each size, after a warm-up of the same size. So the fixed cost of a batch and
the cost of an event can be told apart, and two checkouts compared by running this file with
each one's interpreter (``<checkout>/.venv/bin/python bench/batch_cost.py``). ``--split``
adds the consumer's phases (the batch-wide reads, the events' apply, the batch's writes);
``--profile`` prints ``cProfile``'s top functions for the last size.

The database is the tests' (``roster_testing``): an existing one when
``ROSTER_TEST_DATABASE_URL`` is set, otherwise started here.

    uv run python bench/batch_cost.py [--kind jit|scim] [--sizes 1 4 16] [--batches 300] \
        [--split] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ingest_arm import attributes
from roster_shared.bus import MemoryBus
from roster_shared.bus.base import Message
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import Source
from roster_shared.events.people import IdentityLink, LinkKey
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import Topics
from roster_testing.infra import postgres_service
from user_store import consumer, ingest_batch, tenants
from user_store.consumer import IngestProcessor
from user_store.db import create_engine, migrate, session_factory
from user_store.outbox import OutboxRelay

ISSUER = "https://idp.example.org/saml"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def event(kind: str, tenant_id: str, n: int) -> ingest.UserUpserted:
    """Person ``n``, new: a SCIM create as ``bench/ingest_arm.py`` makes it, or a login as
    sso-login sends it (the same attributes without an externalId; the NameID, of e-mail
    format, as its link key)."""
    person = attributes(n)
    if kind == "scim":
        return ingest.UserUpserted(
            tenant_id=tenant_id, source=Source.SCIM, data=ingest.UserUpsertedData(attributes=person)
        )
    email = person.user_name
    return ingest.UserUpserted(
        tenant_id=tenant_id,
        source=Source.JIT,
        data=ingest.UserUpsertedData(
            attributes=person.model_copy(update={"external_id": None}),
            identity_link=IdentityLink(issuer=ISSUER, subject=email, subject_format=EMAIL_FORMAT),
            link_keys=(LinkKey(value=email, basis="saml-nameid:emailAddress"),),
            login_at=datetime.now(UTC),
        ),
    )


class Phases:
    """Wall and CPU seconds spent in the consumer's phases (``--split``)."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = {}

    def wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                spent = self.spent.setdefault(name, [0.0, 0.0])
                spent[0] += time.perf_counter() - wall
                spent[1] += time.process_time() - cpu

        return timed

    def install(self) -> None:
        consumer._batch_reads = self.wrap("batch reads", consumer._batch_reads)  # type: ignore[assignment]
        IngestProcessor._one = self.wrap("events' apply", IngestProcessor._one)  # type: ignore[method-assign,assignment]
        ingest_batch.IngestBatch.write = self.wrap(  # type: ignore[method-assign,assignment]
            "batch writes", ingest_batch.IngestBatch.write
        )


async def measure(url: str, args: argparse.Namespace) -> None:
    engine = create_engine(url, pool_size=4)
    phases = Phases()
    if args.split:
        phases.install()
    try:
        await migrate(engine)
        sessions = session_factory(engine)
        mode = ProvisioningMode.SCIM if args.kind == "scim" else ProvisioningMode.JIT
        async with sessions() as session, session.begin():
            tenant = await tenants.create_tenant(session, f"cost-{args.kind}", mode)
        topics = Topics()
        processor = IngestProcessor(sessions, OutboxRelay(sessions, MemoryBus()), topics=topics)
        offset = 0

        async def batches(size: int, count: int) -> None:
            nonlocal offset
            for _ in range(count):
                records = [
                    event_record(topics.ingest, event(args.kind, tenant.id, offset + i))
                    for i in range(size)
                ]
                await processor(
                    [
                        Message(r.topic, 0, offset + i, r.key, r.value, r.headers)
                        for i, r in enumerate(records)
                    ]
                )
                offset += size

        for n, size in enumerate(args.sizes):
            await batches(size, 30)
            phases.spent.clear()
            profile = cProfile.Profile() if args.profile and n == len(args.sizes) - 1 else None
            wall, cpu = time.perf_counter(), time.process_time()
            if profile:
                profile.enable()
            await batches(size, args.batches)
            if profile:
                profile.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            per = 1000 / args.batches
            print(
                f"{args.kind} batches of {size}: {wall * per:.2f} ms wall, {cpu * per:.2f} ms CPU "
                f"per batch; {cpu * per / size:.3f} ms CPU per event"
            )
            for name, (w, c) in phases.spent.items():
                print(f"  {name}: {w * per:.2f} ms wall, {c * per:.2f} ms CPU per batch")
            if profile:
                pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        assert processor.safe_passes == 0, "a batch fell back to the safe pass"
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("jit", "scim"), default="jit")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--split", action="store_true", help="time the consumer's phases")
    parser.add_argument("--profile", action="store_true", help="cProfile the last size")
    args = parser.parse_args()
    with postgres_service() as pg:
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        asyncio.run(measure(url, args))


if __name__ == "__main__":
    main()
