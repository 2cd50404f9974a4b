"""The fault scenarios, and one function that runs a scenario end to end."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaProducer

from roster_testing.faults.check import Verdict, read_topic, settled
from roster_testing.faults.fleet import Fleet
from roster_testing.faults.idp import Idp, Op, Tenant
from roster_testing.kafka import LocalKafka
from roster_testing.postgres import LocalPostgres, acreate_database

# Records no contract accepts, published among the load (issue 12's poison kinds).
POISON = (
    (b"tenant", b"{not json"),
    (b"tenant", b"[1, 2, 3]"),
    (b"\xff\xfe\xfd", b"{}"),
    (b"tenant", b'{"type": "user.upserted", "user_name": "nul\\u0000"}'),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str
    stores: int = 1
    scims: int = 1
    needs: str = ""  # "kafka" / "postgres": a private server the run may kill


SCENARIOS = (
    Scenario("user-store kill -9, restart", "kill-store"),
    Scenario("2 user-stores, one kill -9 (rebalance)", "kill-one-store", stores=2),
    Scenario("scim-api kill -9, IdP retries on another", "kill-scim", scims=2),
    Scenario("broker kill -9, restart on its log", "kill-broker", needs="kafka"),
    Scenario("PostgreSQL crash (immediate stop), restart", "crash-postgres", needs="postgres"),
    Scenario("poison records mid-load", "poison"),
)


@dataclass
class Result:
    scenario: Scenario
    verdict: Verdict
    recover_s: float | None
    slowest_ack_s: float
    dead_letters: int = 0
    notes: list[str] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    fault_time: float = 0.0  # seconds into the load (the IdP's clock)
    restart_time: float | None = None  # when what was killed was started again, if it was
    # Where the set check read, so a test can check the checker on the same data.
    database: str = ""
    prefix: str = ""
    tenant_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.verdict.ok
            and self.recover_s is not None
            and self.recover_s <= 60
            and (self.scenario.fault != "poison" or self.dead_letters >= len(POISON))
        )


@dataclass
class Servers:
    """Where the run's broker and database are; ``kafka``/``postgres`` when this process
    started them (and so may kill them)."""

    bootstrap: str
    server_url: str
    kafka: LocalKafka | None = None
    postgres: LocalPostgres | None = None


async def _admin(store: str, admin: str, slug: str) -> Tenant:
    headers = {"Authorization": f"Bearer {admin}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.post(
            f"{store}/admin/tenants", json={"slug": slug, "mode": "scim"}, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            tenant = await response.json()
        async with http.post(f"{store}/admin/tenants/{slug}/tokens", headers=headers) as response:
            assert response.status == 201, await response.text()
            token = (await response.json())["token"]
    return Tenant(slug=slug, id=tenant["id"], token=token)


@asynccontextmanager
async def stack(
    servers: Servers, logs: Path, env: dict[str, str], *, tenants: int = 4
) -> AsyncIterator[tuple[str, list[tuple[str, str]], str, str]]:
    """One user-store and one scim-api (``env`` added to scim-api's settings) on a fresh
    database and topics, with ``tenants`` SCIM tenants: yields scim-api's URL, (slug, token)
    of each tenant, the database URL, the user-store's URL. For benchmarks
    (``bench/overload.py``)."""
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    database = await acreate_database(servers.server_url, f"stack_{uuid.uuid4().hex[:10]}")
    admin = secrets.token_urlsafe(16)
    common = {
        "ROSTER_KAFKA_BOOTSTRAP": servers.bootstrap,
        "ROSTER_TOPIC_PREFIX": f"stack{uuid.uuid4().hex[:8]}.",
        "ROSTER_INTERNAL_TOKEN": secrets.token_urlsafe(16),
        "ROSTER_TOPIC_PARTITIONS": "4",
        "ROSTER_LOG_LEVEL": "WARNING",
        "ROSTER_REQUEST_LOG": "false",
    }
    fleet = Fleet(logs)
    store = fleet.add(
        "store",
        "user-store",
        {
            **common,
            "ROSTER_DATABASE_URL": database,
            "ROSTER_ADMIN_TOKEN": admin,
            "ROSTER_CONSUMER_GROUP": f"stack-{uuid.uuid4().hex[:8]}",
        },
    )
    scim = fleet.add(
        "scim",
        "scim-api",
        {
            **common,
            "ROSTER_USER_STORE_URL": store,
            "ROSTER_SESSION_SECRET": secrets.token_hex(32),
            "ROSTER_MAX_IN_FLIGHT_PER_TENANT": "1000000",
            **env,
        },
    )
    try:
        fleet.start("store")
        await fleet.wait_ready("store")
        fleet.start("scim")
        await fleet.wait_ready("scim")
        made = [await _admin(store, admin, f"t{uuid.uuid4().hex[:8]}") for _ in range(tenants)]
        yield scim, [(t.slug, t.token) for t in made], database, store
    finally:
        fleet.stop_all()


async def run(
    scenario: Scenario,
    servers: Servers,
    logs: Path,
    *,
    seconds: float = 30.0,
    fault_at: float = 8.0,
    down_for: float = 2.0,
    workers: int = 8,
    tenants: int = 4,
) -> Result:
    """Start a fresh stack (own database, topics, group), drive load for ``seconds``, inject
    the scenario's fault at ``fault_at``, then check everything the IdP was told."""
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    database = await acreate_database(servers.server_url, f"faults_{uuid.uuid4().hex[:10]}")
    prefix = f"faults{uuid.uuid4().hex[:8]}."
    admin = secrets.token_urlsafe(16)
    common = {
        "ROSTER_KAFKA_BOOTSTRAP": servers.bootstrap,
        "ROSTER_TOPIC_PREFIX": prefix,
        "ROSTER_INTERNAL_TOKEN": secrets.token_urlsafe(16),
        "ROSTER_TOPIC_PARTITIONS": "4",
        "ROSTER_LOG_LEVEL": "WARNING",
    }
    store_env = {
        **common,
        "ROSTER_DATABASE_URL": database,
        "ROSTER_ADMIN_TOKEN": admin,
        "ROSTER_CONSUMER_GROUP": f"faults-{uuid.uuid4().hex[:8]}",
    }
    fleet = Fleet(logs)
    stores = [fleet.add(f"store-{c}", "user-store", store_env) for c in "ab"[: scenario.stores]]
    # scim-api asks the last user-store (the one that survives a rebalance run) about tokens.
    scim_env = {
        **common,
        "ROSTER_USER_STORE_URL": stores[-1],
        "ROSTER_SESSION_SECRET": secrets.token_hex(32),
    }
    scims = [fleet.add(f"scim-{c}", "scim-api", scim_env) for c in "ab"[: scenario.scims]]
    try:
        for n in range(scenario.stores):  # one at a time: each migrates on start
            fleet.start(f"store-{'ab'[n]}")
            await fleet.wait_ready(f"store-{'ab'[n]}")
        for n in range(scenario.scims):
            fleet.start(f"scim-{'ab'[n]}")
        for n in range(scenario.scims):
            await fleet.wait_ready(f"scim-{'ab'[n]}")
        made = [await _admin(stores[0], admin, f"t{uuid.uuid4().hex[:8]}") for _ in range(tenants)]
        idp = Idp(scims, made, workers=workers)
        notes: list[str] = []
        load = asyncio.ensure_future(idp.run(seconds))
        await asyncio.sleep(fault_at)
        fault_time = idp.now()
        restart_time = await _inject(
            scenario, fleet, servers, made, prefix, down_for, notes, idp.now
        )
        await load
        verdict = await settled(idp.ops, database, [t.id for t in made], servers.bootstrap, prefix)
        dead = 0
        if scenario.fault == "poison":
            dead = len(await read_topic(servers.bootstrap, prefix + "roster.ingest.dlq"))
        acked = [op for op in idp.ops if op.outcome == "acknowledged"]
        return Result(
            scenario,
            verdict,
            _recovery(idp, fault_time, made),
            max((op.ended - op.started for op in acked), default=0.0),
            dead,
            notes,
            idp.ops,
            fault_time,
            restart_time,
            database,
            prefix,
            [t.id for t in made],
        )
    finally:
        fleet.stop_all()


async def _inject(
    scenario: Scenario,
    fleet: Fleet,
    servers: Servers,
    tenants: list[Tenant],
    prefix: str,
    down_for: float,
    notes: list[str],
    now: Callable[[], float],
) -> float | None:
    async def back(label: str, restart: Callable[[], Awaitable[float]]) -> None:
        await asyncio.sleep(down_for)
        started = now()
        await restart()
        notes.append(f"{label} back after {now() - started + down_for:.1f} s")
        restarted_at.append(started)

    restarted_at: list[float] = []

    match scenario.fault:
        case "kill-store":
            fleet.kill("store-a")

            async def store() -> float:
                fleet.start("store-a")
                return await fleet.wait_ready("store-a")

            await back("user-store", store)
        case "kill-one-store":
            fleet.kill("store-a")
        case "kill-scim":
            fleet.kill("scim-a")
        case "kill-broker":
            assert servers.kafka is not None
            servers.kafka.crash()
            broker = servers.kafka
            await back("broker", lambda: _timed(asyncio.to_thread(broker.restart)))
        case "crash-postgres":
            assert servers.postgres is not None
            await asyncio.to_thread(servers.postgres.crash)
            pg = servers.postgres
            await back("PostgreSQL", lambda: _timed(asyncio.to_thread(pg.restart)))
        case "poison":
            producer = AIOKafkaProducer(bootstrap_servers=servers.bootstrap)
            await producer.start()
            try:
                for n, (key, value) in enumerate(POISON):
                    real = tenants[n % len(tenants)].id.encode() if key == b"tenant" else key
                    await producer.send_and_wait(prefix + "roster.ingest", value, key=real)
            finally:
                await producer.stop()
        case other:
            raise ValueError(f"unknown fault {other}")
    return restarted_at[0] if restarted_at else None


async def _timed(work: Awaitable[object]) -> float:
    started = time.monotonic()
    await work
    return time.monotonic() - started


def _recovery(idp: Idp, fault_time: float, tenants: list[Tenant]) -> float | None:
    """Seconds from the fault until every tenant had an operation, started after the fault,
    acknowledged (None if one never did)."""
    worst = 0.0
    for tenant in tenants:
        firsts = [
            op.ended
            for op in idp.ops
            if op.tenant == tenant.slug
            and op.outcome == "acknowledged"
            and op.started >= fault_time
        ]
        if not firsts:
            return None
        worst = max(worst, min(firsts) - fault_time)
    return worst
