"""Benchmark: the SCIM endpoint end to end (HTTP -> scim-api -> Kafka -> user-store ->
PostgreSQL -> reply; reads through the user-store's internal API), against raw asyncpg baselines
measured in the same run on the same database (issue 3, "Measure"):

* create: SCIM POST /Users throughput and p50/p99 latency, against raw asyncpg single-row
  INSERTs of the same rows (one autocommit statement per row, same concurrency);
* lookup: GET /Users?filter=userName eq "..." against a raw indexed SELECT of the same rows;
By default the user-store and the scim-api each run in their own ``roster serve`` process (the
production shape; the load generator is this process); ``--in-process`` serves both here.

* Entra-style initial sync: for each user a lookup then a create, 10,000 users in all by
  default, spread over several tenants syncing at once (each tenant with a few requests in
  flight, as a provisioning job does).

The broker and database are the tests' (``roster_testing``): an existing one when
``ROSTER_TEST_KAFKA`` / ``ROSTER_TEST_DATABASE_URL`` are set, otherwise started here.

    uv run python bench/scim_provisioning.py [--creates 2000] [--concurrency 32]
                                    [--sync-users 2500] [--tenants 4] [--per-tenant 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from roster_cli import compose
from roster_shared.bus.kafka import KafkaBus
from roster_shared.tenants import ProvisioningMode
from roster_testing.infra import kafka_service, postgres_service
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.identity import name_key

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ROSTER = Path(sys.executable).with_name("roster")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def user_body(prefix: str, i: int) -> dict[str, Any]:
    name = f"{prefix}{i:06d}@example.com"
    return {
        "schemas": [USER],
        "userName": name,
        "externalId": f"{prefix}-ext-{i:06d}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "displayName": f"Given{i} Family{i}",
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }


def summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "per_second": round(len(ordered) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


async def run(
    jobs: list[Callable[[], Awaitable[Any]]], concurrency: int
) -> tuple[list[float], float]:
    """Run ``jobs`` with ``concurrency`` in flight; per-job latencies and the wall time."""
    queue = list(reversed(jobs))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            job = queue.pop()
            started = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


class Scim:
    """A tenant's SCIM endpoint over HTTP."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    async def create(self, body: dict[str, Any]) -> str:
        async with self.http.post(f"{self.base}/Users", json=body, headers=self.headers) as r:
            assert r.status == 201, (r.status, await r.text())
            return str((await r.json(content_type=None))["id"])

    async def lookup(self, user_name: str) -> int:
        params = {"filter": f'userName eq "{user_name}"'}
        async with self.http.get(f"{self.base}/Users", params=params, headers=self.headers) as r:
            assert r.status == 200, (r.status, await r.text())
            return int((await r.json(content_type=None))["totalResults"])


async def raw_inserts(dsn: str, rows: list[dict[str, Any]], concurrency: int) -> dict[str, float]:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    try:
        await pool.execute("""
            CREATE TABLE bench_scim_users (
                id text PRIMARY KEY, tenant_id text NOT NULL, user_name text NOT NULL,
                user_name_key text NOT NULL, external_id text, active boolean NOT NULL,
                display_name text, given_name text, family_name text, emails jsonb NOT NULL,
                version int NOT NULL, created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL, UNIQUE (tenant_id, user_name_key))""")
        statement = (
            "INSERT INTO bench_scim_users VALUES ($1,'t',$2,$3,$4,true,$5,$6,$7,$8,1,now(),now())"
        )

        def job(body: dict[str, Any]) -> Callable[[], Awaitable[None]]:
            async def insert() -> None:
                await pool.execute(
                    statement,
                    str(uuid.uuid4()),
                    body["userName"],
                    name_key(body["userName"]),
                    body["externalId"],
                    body["displayName"],
                    body["name"]["givenName"],
                    body["name"]["familyName"],
                    json.dumps(body["emails"]),
                )

            return insert

        latencies, elapsed = await run([job(b) for b in rows], concurrency)
        return summary(latencies, elapsed)
    finally:
        await pool.close()


async def raw_selects(
    dsn: str, tenant_id: str, names: list[str], concurrency: int
) -> dict[str, float]:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    try:

        def job(name: str) -> Callable[[], Awaitable[None]]:
            async def select() -> None:
                row = await pool.fetchrow(
                    "SELECT * FROM users WHERE tenant_id = $1 AND user_name_key = $2 "
                    "AND deleted_at IS NULL",
                    tenant_id,
                    name_key(name),
                )
                assert row is not None

            return select

        latencies, elapsed = await run([job(n) for n in names], concurrency)
        return summary(latencies, elapsed)
    finally:
        await pool.close()


class InProcess:
    """user-store and scim-api in this process, on one port (like ``roster dev``, on Kafka)."""

    def __init__(self, bootstrap: str, url: str, internal: str, prefix: str) -> None:
        self.bootstrap, self.url, self.internal, self.prefix = bootstrap, url, internal, prefix

    async def start(self) -> str:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        self.bus = KafkaBus(self.bootstrap, client_id="bench-scim")
        await self.bus.start()
        wiring = compose.Wiring(
            database_url=self.url,
            self_url=base,
            admin_token=secrets.token_urlsafe(16),
            internal_token=self.internal,
            topic_prefix=self.prefix,
        )
        root = compose.compose(wiring, bus=self.bus, services=[compose.SCIM_API])
        self.runner = web.AppRunner(root, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return base

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.bus.stop()


class Processes:
    """user-store and scim-api each in its own ``roster serve`` process (the production way)."""

    def __init__(self, bootstrap: str, url: str, internal: str, prefix: str) -> None:
        self.common = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")},
            "ROSTER_KAFKA_BOOTSTRAP": bootstrap,
            "ROSTER_TOPIC_PREFIX": prefix,
            "ROSTER_INTERNAL_TOKEN": internal,
            "ROSTER_LOG_LEVEL": "WARNING",
            # BENCH_REQUEST_LOG=false: the scim-api without the console's request log, to
            # measure what recording costs (compare the ratios of one run with it and without).
            "ROSTER_REQUEST_LOG": os.environ.get("BENCH_REQUEST_LOG", "true"),
        }
        self.url = url
        self.processes: list[subprocess.Popen[bytes]] = []
        self.scim_env: dict[str, str] = {}
        """More variables for the scim-api (compare.py: its reader database URL)."""

    async def _serve(self, service: str, env: dict[str, str]) -> str:
        port = free_port()
        self.processes.append(
            subprocess.Popen(  # noqa: ASYNC220 - started once, never waited on here
                [str(ROSTER), "serve", service],
                env={**self.common, **env, "ROSTER_PORT": str(port)},
                stdout=subprocess.DEVNULL,
            )
        )
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/readyz") as response:
                        if response.status == 200:
                            return base
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{service} did not become ready")

    async def start(self) -> str:
        store = await self._serve(
            "user-store",
            {"ROSTER_DATABASE_URL": self.url, "ROSTER_ADMIN_TOKEN": secrets.token_urlsafe(16)},
        )
        return await self._serve("scim-api", {"ROSTER_USER_STORE_URL": store, **self.scim_env})

    async def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(30)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}")
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        engine = create_engine(url)
        await migrate(engine)
        issued = {}
        async with session_factory(engine)() as session, session.begin():
            for slug in ["bench", *(f"sync{i}" for i in range(args.tenants))]:
                tenant = await tenants.create_tenant(session, slug, ProvisioningMode.SCIM)
                issued[slug] = (tenant.id, (await tenants.issue_token(session, tenant.id)).token)
        await engine.dispose()

        internal = secrets.token_urlsafe(16)
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        stack = (
            InProcess(kafka.bootstrap, url, internal, prefix)
            if args.in_process
            else Processes(kafka.bootstrap, url, internal, prefix)
        )
        base = await stack.start()
        result: dict[str, Any] = {
            "deployment": "one process" if args.in_process else "roster serve processes",
            "creates": args.creates,
            "concurrency": args.concurrency,
        }
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                tenant_id, token = issued["bench"]
                scim = Scim(http, f"{base}/scim/v2/bench", token)
                await scim.create(user_body("warmup", 0))

                bodies = [user_body("u", i) for i in range(args.creates)]
                latencies, elapsed = await run(
                    [partial(scim.create, b) for b in bodies],
                    args.concurrency,
                )
                result["scim_create"] = summary(latencies, elapsed)
                result["raw_asyncpg_insert"] = await raw_inserts(
                    dsn, [user_body("r", i) for i in range(args.creates)], args.concurrency
                )

                names = [b["userName"] for b in bodies]

                async def found(name: str) -> None:
                    assert await scim.lookup(name) == 1

                latencies, elapsed = await run(
                    [partial(found, n) for n in names],
                    args.concurrency,
                )
                result["scim_lookup_username_eq"] = summary(latencies, elapsed)
                result["raw_asyncpg_indexed_select"] = await raw_selects(
                    dsn, tenant_id, names, args.concurrency
                )

                async def sync_one(client: Scim, body: dict[str, Any]) -> None:
                    if await client.lookup(body["userName"]) == 0:
                        await client.create(body)

                async def sync_tenant(slug: str) -> tuple[list[float], float]:
                    _, tenant_token = issued[slug]
                    client = Scim(http, f"{base}/scim/v2/{slug}", tenant_token)
                    jobs = [
                        partial(sync_one, client, user_body(slug, i))
                        for i in range(args.sync_users)
                    ]
                    return await run(jobs, args.per_tenant)

                started = time.perf_counter()
                outcomes = await asyncio.gather(
                    *(sync_tenant(f"sync{i}") for i in range(args.tenants))
                )
                elapsed = time.perf_counter() - started
                all_latencies = [x for latencies, _ in outcomes for x in latencies]
                result["entra_initial_sync"] = {
                    "tenants": args.tenants,
                    "users_per_tenant": args.sync_users,
                    "requests_in_flight_per_tenant": args.per_tenant,
                    "wall_seconds": round(elapsed, 1),
                    "users_per_second": round(len(all_latencies) / elapsed, 1),
                    "per_tenant_seconds": [round(s, 1) for _, s in outcomes],
                    "user_p50_ms": round(statistics.median(all_latencies) * 1000, 2),
                    "user_p99_ms": round(
                        sorted(all_latencies)[int(len(all_latencies) * 0.99)] * 1000, 2
                    ),
                }
                for i in range(args.tenants):
                    client = Scim(http, f"{base}/scim/v2/sync{i}", issued[f"sync{i}"][1])
                    async with http.get(
                        f"{client.base}/Users", params={"count": "0"}, headers=client.headers
                    ) as r:
                        total = (await r.json(content_type=None))["totalResults"]
                    assert total == args.sync_users, (i, total)
        finally:
            await stack.stop()

    create, raw = result["scim_create"], result["raw_asyncpg_insert"]
    result["create_ratio_vs_raw_asyncpg"] = round(create["per_second"] / raw["per_second"], 4)
    lookup, select = result["scim_lookup_username_eq"], result["raw_asyncpg_indexed_select"]
    result["lookup_ratio_vs_raw_select"] = round(lookup["per_second"] / select["per_second"], 4)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sync-users", type=int, default=2_500)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--per-tenant", type=int, default=8)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve user-store and scim-api in this process instead of `roster serve` ones",
    )
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    text = json.dumps(outcome, indent=2)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"scim_provisioning-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text + "\n")
