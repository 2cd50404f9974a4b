"""Benchmark: Roster's SCIM endpoint side by side with a peer and with its own infrastructure,
all in one run on one machine (issue 10), printed as one table with ratios:

* **Roster** on the production path: the user-store and the scim-api each in their own
  ``roster serve`` process, on Kafka + PostgreSQL (the tests' broker and database: existing ones
  via ``ROSTER_TEST_KAFKA`` / ``ROSTER_TEST_DATABASE_URL``, otherwise started here);
* **scim2-server** 0.8.3 (python-scim, from PyPI, in memory), started as its own process;
* **raw asyncpg** on the same database: single-row INSERTs of the same rows, the indexed
  ``user_name_key`` SELECT and the primary-key SELECT at the same concurrency (the database's pace);
* **raw aiokafka** on the same broker: a request/reply through one topic (an ``acks=all`` send
  and a consumer that sees it), at the same concurrency — one Kafka hop, the floor of any
  event-sourced write (a Roster create makes two: the event and its reply).

The Roster arm's scim-api reads PostgreSQL as the reader role (``ROSTER_READER_DATABASE_URL``:
GET by id, ``userName eq`` and the write's token check through the token-checked functions,
``scim_api.reader``); ``--http`` adds an arm of the same checkout without it (every read through
the user-store over HTTP), on its own database, the arms' order alternating per cell.

For each concurrency (1, 16, 64 by default) each system creates its own users (SCIM POST), then
looks each one up (``userName eq``), then reads each by id (GET), closed loop. The machine is
shared and noisy: compare the ratios within a run, and run it more than once (``--rounds``).

    uv run python bench/compare.py [--concurrency 1 16 64] [--users 200 1000 2000] [--rounds 1]

``--embedded`` measures ``roster dev`` instead (one process, SQLite and the in-process bus), and
with ``--before`` another checkout's ``roster dev`` beside it, the arms interleaved per round:

    uv run python bench/compare.py --embedded --before ../main/.venv/bin/roster --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from roster_shared.bus.kafka import KafkaBus
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import TopicSpec
from roster_testing.infra import kafka_service, postgres_service
from user_store import reader_role, tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.identity import name_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_budget
import machine
import scim_provisioning
from raw_http import HttpError, RawClient, render
from scim_provisioning import (
    Processes,
    free_port,
    run,
    summary,
    user_body,
)

PEER = Path(sys.executable).with_name("scim2-server")
OPS = ("create", "lookup", "get", "get+writes")
"""``get+writes``: every GET again, while creates of other users run beside them (a quarter of
the concurrency, at least one); the latencies and rate are the reads', the CPU per request counts
the writes too, and ``writes_per_second`` is the creates' pace meanwhile."""


class Endpoint:
    """A SCIM endpoint under load: counts what went wrong instead of stopping at it."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base = http, base
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        self.failures: dict[str, int] = {}
        self.ids: dict[str, str] = {}

    def _failed(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    async def create(self, body: dict[str, Any]) -> None:
        try:
            async with self.http.post(f"{self.base}/Users", json=body, headers=self.headers) as r:
                if r.status != 201:
                    self._failed(f"create {r.status}")
                    return
                self.ids[body["userName"]] = str((await r.json(content_type=None))["id"])
        except aiohttp.ClientError as exc:
            self._failed(f"create {type(exc).__name__}")

    async def lookup(self, user_name: str) -> None:
        params = {"filter": f'userName eq "{user_name}"'}
        try:
            async with self.http.get(
                f"{self.base}/Users", params=params, headers=self.headers
            ) as r:
                if r.status != 200 or (await r.json(content_type=None))["totalResults"] != 1:
                    self._failed(f"lookup {r.status}")
        except aiohttp.ClientError as exc:
            self._failed(f"lookup {type(exc).__name__}")

    async def get(self, user_id: str) -> None:
        try:
            async with self.http.get(f"{self.base}/Users/{user_id}", headers=self.headers) as r:
                if r.status != 200:
                    self._failed(f"get {r.status}")
                await r.read()
        except aiohttp.ClientError as exc:
            self._failed(f"get {type(exc).__name__}")


class RawEndpoint(Endpoint):
    """The same three requests, sent by :mod:`raw_http` (pre-rendered keep-alive requests, about
    a tenth of aiohttp's client CPU per request): at concurrency 64 aiohttp's client took a
    large share of the two cores from the systems it measured, the same share from each, so
    the rates it showed were partly the generator's."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        super().__init__(http, base, token)
        url = urlsplit(base)
        self.host, self.port, self.path = url.hostname or "127.0.0.1", url.port or 80, url.path
        self.client = RawClient(self.host, self.port)
        self.raw_headers = {**self.headers, "Accept": "application/scim+json"}

    def _render(self, method: str, path: str, body: bytes = b"") -> bytes:
        host = f"{self.host}:{self.port}"
        return render(method, host, self.path + path, self.raw_headers, body)

    async def create(self, body: dict[str, Any]) -> None:
        try:
            answer = await self.client.request(
                self._render("POST", "/Users", json.dumps(body).encode())
            )
        except (HttpError, TimeoutError) as exc:
            self._failed(f"create {type(exc).__name__}")
            return
        if answer.status != 201:
            self._failed(f"create {answer.status}")
            return
        self.ids[body["userName"]] = str(json.loads(answer.body)["id"])

    async def lookup(self, user_name: str) -> None:
        query = quote(f'userName eq "{user_name}"')
        try:
            answer = await self.client.request(self._render("GET", f"/Users?filter={query}"))
        except (HttpError, TimeoutError) as exc:
            self._failed(f"lookup {type(exc).__name__}")
            return
        if answer.status != 200 or json.loads(answer.body)["totalResults"] != 1:
            self._failed(f"lookup {answer.status}")

    async def get(self, user_id: str) -> None:
        try:
            answer = await self.client.request(self._render("GET", f"/Users/{user_id}"))
        except (HttpError, TimeoutError) as exc:
            self._failed(f"get {type(exc).__name__}")
            return
        if answer.status != 200:
            self._failed(f"get {answer.status}")


GENERATORS: dict[str, type[Endpoint]] = {"raw": RawEndpoint, "aiohttp": Endpoint}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes used so far (Linux ``/proc``).

    On a shared machine wall-clock rates swing with everyone else's load; the CPU a request
    costs the server processes does not, so the table reports it beside the rates."""
    return sum(found[1] for pid in pids if (found := cpu_budget.process_seconds(pid)))


async def scim_round(
    endpoint: Endpoint, prefix: str, users: int, concurrency: int, pids: list[int]
) -> dict[str, dict[str, float]]:
    bodies = [user_body(prefix, i) for i in range(users)]
    out: dict[str, dict[str, float]] = {}

    async def measure(op: str, jobs: list[Callable[[], Awaitable[None]]]) -> None:
        # On stderr, so a profiler can be aimed at one phase (py-spy record -p PID ...).
        print(f"phase {op} at {concurrency} on {pids} starts", file=sys.stderr, flush=True)
        before = endpoint.failed
        budget = cpu_budget.snapshot(pids)
        latencies, elapsed = await run(jobs, concurrency)
        budget_after = cpu_budget.snapshot(pids)
        cpu = budget_after.seconds["servers"] - budget.seconds["servers"]
        failed = endpoint.failed - before
        # Throughput counts only what succeeded; a failed request is not a served one.
        out[op] = {
            **summary(latencies, elapsed),
            "per_second": round((len(latencies) - failed) / elapsed, 1),
            "failed": failed,
            "cpu_ms_per_request": round(cpu * 1000 / max(len(latencies), 1), 2),
            **cpu_budget.per_request(budget, budget_after, len(latencies)),
        }

    await measure("create", [partial(endpoint.create, b) for b in bodies])
    names = [b["userName"] for b in bodies if b["userName"] in endpoint.ids]
    await measure("lookup", [partial(endpoint.lookup, n) for n in names])
    gets = [partial(endpoint.get, endpoint.ids[n]) for n in names]
    await measure("get", gets)
    # Reads under writes: does a read ever wait on another request's write (issue 10)?
    queue = [user_body(f"{prefix}w", i) for i in reversed(range(users * 4))]
    stop = asyncio.Event()
    written = 0

    async def writer() -> None:
        nonlocal written
        while queue and not stop.is_set():
            await endpoint.create(queue.pop())
            written += 1

    writers = [asyncio.create_task(writer()) for _ in range(max(1, concurrency // 4))]
    started = time.perf_counter()
    try:
        await measure("get+writes", gets)
    finally:
        stop.set()
        elapsed = time.perf_counter() - started
        await asyncio.gather(*writers)
    out["get+writes"]["writes_per_second"] = round(written / elapsed, 1)
    return out


async def raw_database(
    dsn: str, tenant_id: str, prefix: str, users: int, concurrency: int
) -> dict[str, dict[str, float]]:
    """INSERT the same rows one autocommit statement each; then the two indexed SELECTs."""
    table = f"bench_raw_{prefix}"
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    out: dict[str, dict[str, float]] = {}
    try:
        await pool.execute(f"""
            CREATE TABLE {table} (
                id text PRIMARY KEY, tenant_id text NOT NULL, user_name text NOT NULL,
                user_name_key text NOT NULL, external_id text, active boolean NOT NULL,
                display_name text, given_name text, family_name text, emails jsonb NOT NULL,
                version int NOT NULL, created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL, UNIQUE (tenant_id, user_name_key))""")
        insert = f"INSERT INTO {table} VALUES ($1,$2,$3,$4,$5,true,$6,$7,$8,$9,1,now(),now())"
        rows = []
        for i in range(users):
            body = user_body(prefix, i)
            rows.append(
                (
                    str(uuid.uuid4()),
                    tenant_id,
                    body["userName"],
                    name_key(body["userName"]),
                    body["externalId"],
                    body["displayName"],
                    body["name"]["givenName"],
                    body["name"]["familyName"],
                    json.dumps(body["emails"]),
                )
            )

        def do(statement: str, *args: Any) -> Callable[[], Awaitable[Any]]:
            return lambda: pool.fetch(statement, *args)

        latencies, elapsed = await run([do(insert, *row) for row in rows], concurrency)
        out["create"] = summary(latencies, elapsed)
        by_name = f"SELECT * FROM {table} WHERE tenant_id = $1 AND user_name_key = $2"
        latencies, elapsed = await run(
            [do(by_name, tenant_id, row[3]) for row in rows], concurrency
        )
        out["lookup"] = summary(latencies, elapsed)
        by_id = f"SELECT * FROM {table} WHERE id = $1"
        latencies, elapsed = await run([do(by_id, row[0]) for row in rows], concurrency)
        out["get"] = summary(latencies, elapsed)
        await pool.execute(f"DROP TABLE {table}")
    finally:
        await pool.close()
    return out


async def raw_kafka(bootstrap: str, count: int, concurrency: int) -> dict[str, float]:
    """One Kafka hop per request: an ``acks=all`` idempotent send, awaited until a consumer of
    the topic has seen that very record (what a reply waiter does)."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, fetch_max_wait_ms=20, enable_auto_commit=False
    )
    admin = KafkaBus(bootstrap, client_id="bench-raw")
    await admin.start()
    try:
        await admin.ensure_topics([TopicSpec(topic, 1)])
    finally:
        await admin.stop()
    await producer.start()
    await consumer.start()
    waiting: dict[bytes, asyncio.Future[None]] = {}
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_end()

        async def read() -> None:
            while True:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for message in messages:
                        future = waiting.pop(message.key, None)
                        if future is not None and not future.done():
                            future.set_result(None)

        reader = asyncio.create_task(read())

        def job(i: int) -> Callable[[], Awaitable[None]]:
            async def request() -> None:
                key = f"{i}-{uuid.uuid4().hex}".encode()
                future = asyncio.get_running_loop().create_future()
                waiting[key] = future
                await producer.send_and_wait(topic, b"x" * 300, key=key)
                await asyncio.wait_for(future, 30)

            return request

        latencies, elapsed = await run([job(i) for i in range(count)], concurrency)
        reader.cancel()
        return summary(latencies, elapsed)
    finally:
        await consumer.stop()
        await producer.stop()


async def serve_peer(token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped at the end
        [str(PEER), "--port", str(port), "--bearer-token", token],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v2"
    async with aiohttp.ClientSession() as http:
        for _ in range(150):
            try:
                async with http.get(
                    f"{base}/ServiceProviderConfig", headers={"Authorization": f"Bearer {token}"}
                ) as r:
                    if r.status == 200:
                        return process, base
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    process.terminate()
    raise RuntimeError("scim2-server did not start")


def _median(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(s[k] for s in samples), 2) for k in samples[0]}


def _failed(cell: dict[str, float]) -> str:
    return f" ({cell['failed']:.0f} failed)" if cell.get("failed") else ""


def table(results: dict[str, Any], concurrencies: list[int]) -> str:
    """One markdown table: per scenario and concurrency, each system and the ratios."""
    baseline = "http" if "http" in results else "before" if "before" in results else None
    head = ["scenario", "conc", "Roster /s", "p50 ms", "p99 ms", "CPU ms/req"]
    if baseline is not None:
        head += [f"{baseline} /s", "p50 ms", "CPU ms/req", f"Roster ÷ {baseline}"]
    head += ["scim2-server /s", "p50 ms", "p99 ms", "CPU ms/req", "raw asyncpg /s", "p50 ms"]
    head += ["Roster ÷ peer", "Roster ÷ raw"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    labels = {
        "create": "create",
        "lookup": "`userName eq`",
        "get": "GET by id",
        "get+writes": "GET by id under creates",
    }

    def system(cell: dict[str, float]) -> list[str]:
        return [
            f"{cell['per_second']:.0f}{_failed(cell)}",
            f"{cell['p50_ms']:.1f}",
            f"{cell['p99_ms']:.1f}",
            f"{cell['cpu_ms_per_request']:.2f}",
        ]

    for op in OPS:
        for conc in concurrencies:
            r = results["roster"][str(conc)][op]
            p = results["peer"][str(conc)][op]
            # GET under creates has no raw counterpart: the plain GET is the floor.
            d = (
                results["raw_asyncpg"][str(conc)].get(op)
                or results["raw_asyncpg"][str(conc)]["get"]
            )
            row = [labels[op], str(conc), *system(r)]
            if baseline is not None:
                b = results[baseline][str(conc)][op]
                row += [*system(b)[:2], system(b)[3], f"{r['per_second'] / b['per_second']:.2f}"]
            row += [*system(p), f"{d['per_second']:.0f}", f"{d['p50_ms']:.2f}"]
            row += [f"{r['per_second'] / p['per_second']:.2f}"]
            row += [f"{r['per_second'] / d['per_second']:.3f}"]
            lines.append("| " + " | ".join(row) + " |")
    for conc in concurrencies:
        k = results["raw_aiokafka"][str(conc)]
        row = ["raw aiokafka request/reply (one hop)", str(conc), f"{k['per_second']:.0f}"]
        row += [f"{k['p50_ms']:.1f}", f"{k['p99_ms']:.1f}"]
        lines.append("| " + " | ".join(row + [""] * (len(head) - len(row))) + " |")
    return "\n".join(lines)


def budget_table(samples: dict[str, dict[str, list[Any]]], arms: list[str]) -> str:
    """Where each Roster arm's requests spent the machine's CPU (bench/cpu_budget.py), medians
    of the rounds: the services, the broker, the database, the load generator, every CPU, and
    the rate every CPU busy would allow (the ceiling) beside the rate measured."""
    head = ["arm", "scenario", "conc", "/s", "services", "broker", "database", "generator"]
    head += ["machine", "ceiling /s", "÷ ceiling"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    parts = ("servers", "broker", "database", "generator", "machine")
    for arm in arms:
        for conc, runs in samples.get(arm, {}).items():
            for op in OPS:
                cells = [r[op] for r in runs if op in r and "machine_cpu_ms" in r[op]]
                if not cells:
                    continue
                cell = _median(
                    [{k: c[k] for k in ("per_second", "ceiling_per_second")} for c in cells]
                )
                ms = _median([{p: c[f"{p}_cpu_ms"] for p in parts} for c in cells])
                row = [arm, op, conc, f"{cell['per_second']:.0f}"]
                row += [f"{ms[p]:.2f}" for p in parts]
                ceiling = cell["ceiling_per_second"]
                row += [f"{ceiling:.0f}", f"{cell['per_second'] / ceiling:.2f}" if ceiling else ""]
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


async def _tenant(url: str, roster: Path | None = None) -> tuple[str, str]:
    """A fresh database with one SCIM tenant; its id and a token. With ``roster`` (another
    checkout's executable) that checkout migrates it: this one's newest revision may be one it
    does not know."""
    engine = create_engine(url)
    if roster is None:
        await migrate(engine)
    else:
        migrating = await asyncio.create_subprocess_exec(
            str(roster), "migrate", "--database-url", url
        )
        if await migrating.wait() != 0:
            raise RuntimeError(f"{roster} migrate failed")
    async with session_factory(engine)() as session, session.begin():
        tenant = await tenants.create_tenant(session, "bench", ProvisioningMode.SCIM)
        token = (await tenants.issue_token(session, tenant.id)).token
    await engine.dispose()
    return tenant.id, token


async def _reader_url(url: str) -> str:
    """A reader role for the (migrated) database, as ``roster db reader-role --apply`` makes
    it; its URL. Roles are the cluster's: the name is random (left behind, like the database)."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    role, password = f"bench_reader_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    admin = await asyncpg.connect(dsn)
    try:
        await reader_role.apply(admin, role, password=password)
    finally:
        await admin.close()
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.netloc.rpartition('@')[2]}"))


async def _roster(
    kafka: str, pg: Any, roster: Path, *, reader: bool = False
) -> tuple[Processes, str, str, str]:
    """A Roster stack of ``roster serve`` processes from the ``roster`` executable given, on
    its own database and topics (with ``reader``, the scim-api reads as the reader role).
    Returns the stack, its base URL, tenant id and token."""
    url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    tenant_id, token = await _tenant(url, None if roster == scim_provisioning.ROSTER else roster)
    stack = Processes(kafka, url, secrets.token_urlsafe(16), f"cmp{uuid.uuid4().hex[:6]}.")
    if reader:
        stack.scim_env = {"ROSTER_READER_DATABASE_URL": await _reader_url(url)}
    # Processes starts the module's ROSTER executable; point it at this checkout's for the start.
    saved, scim_provisioning.ROSTER = scim_provisioning.ROSTER, roster
    try:
        base = await stack.start()
    finally:
        scim_provisioning.ROSTER = saved
    return stack, base, tenant_id, token


class Dev:
    """``roster dev`` from the ``roster`` executable given, on a fresh data directory: its
    process, the demo tenant's SCIM base URL and the token its banner shows (once)."""

    def __init__(self, roster: Path, data: Path) -> None:
        self.roster, self.data = roster, data

    async def start(self) -> tuple[str, str]:
        port = free_port()
        self.log = self.data.with_suffix(".log")
        self.process = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped at the end
            [str(self.roster), "dev", "--data", str(self.data), "--port", str(port)],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")},
                "ROSTER_LOG_LEVEL": "WARNING",
            },
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            for line in self.log.read_text().splitlines():
                if line.strip().startswith("SCIM token"):
                    return f"{base}/scim/v2/demo", line.split()[-1]
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text())
            await asyncio.sleep(0.2)
        raise RuntimeError("roster dev did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


async def embedded(args: argparse.Namespace) -> dict[str, Any]:
    """``roster dev`` of this checkout (and of ``--before``), arms interleaved in each round."""
    arms = {"roster": scim_provisioning.ROSTER}
    if args.before is not None:
        arms["before"] = args.before
    samples: dict[str, dict[str, list[Any]]] = {
        n: {str(c): [] for c in args.concurrency} for n in arms
    }
    with tempfile.TemporaryDirectory() as tmp:
        devs = {n: Dev(exe, Path(tmp) / n) for n, exe in arms.items()}
        try:
            targets = {n: await dev.start() for n, dev in devs.items()}
            print("pids: " + "; ".join(f"{n} {d.process.pid}" for n, d in devs.items()), flush=True)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                endpoints = {n: GENERATORS[args.generator](http, *targets[n]) for n in arms}
                for endpoint in endpoints.values():
                    await endpoint.create(user_body("warmup", 0))
                for round_no in range(args.rounds):
                    for conc, users in zip(args.concurrency, args.users, strict=True):
                        tag = f"r{round_no}c{conc}"
                        order = list(endpoints.items())
                        if round_no % 2:
                            order.reverse()  # neither arm always runs first
                        for name, endpoint in order:
                            pid = [devs[name].process.pid]
                            outcome = await scim_round(endpoint, f"{tag}{name}", users, conc, pid)
                            samples[name][str(conc)].append(outcome)
                            print(f"round {round_no} conc {conc} {name}: {outcome}", flush=True)
                failures = {n: e.failures for n, e in endpoints.items()}
                for endpoint in endpoints.values():
                    if isinstance(endpoint, RawEndpoint):
                        endpoint.client.close()
        finally:
            for dev in devs.values():
                if hasattr(dev, "process"):
                    dev.stop()
    results: dict[str, Any] = {
        "stack": "roster dev (one process, SQLite, in-process bus)",
        "machine": f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end",
        "rounds": args.rounds,
        "failures": failures,
        "samples": samples,
    }
    for name in arms:
        results[name] = {
            # The raw database arm has no get+writes scenario.
            conc: {op: _median([s[op] for s in runs]) for op in OPS if op in runs[0]}
            for conc, runs in samples[name].items()
        }
    head = ["scenario", "conc", "Roster /s", "p50 ms", "p99 ms", "CPU ms/req"]
    if "before" in arms:
        head += ["before /s", "p50 ms", "p99 ms", "CPU ms/req", "after ÷ before"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for op in OPS:
        for conc in args.concurrency:
            row = [op, str(conc)]
            for name in arms:
                cell = results[name][str(conc)][op]
                writes = cell.get("writes_per_second")
                row += [
                    f"{cell['per_second']:.0f}{_failed(cell)}"
                    + (f" (+{writes:.0f} creates/s)" if writes is not None else ""),
                    f"{cell['p50_ms']:.1f}",
                    f"{cell['p99_ms']:.1f}",
                    f"{cell['cpu_ms_per_request']:.2f}",
                ]
            if "before" in arms:
                after, before = (results[n][str(conc)][op]["per_second"] for n in arms)
                row.append(f"{after / before:.2f}")
            lines.append("| " + " | ".join(row) + " |")
    results["table"] = "\n".join(lines)
    results["budget"] = budget_table(samples, list(arms))
    return results


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if len(args.users) != len(args.concurrency):
        raise SystemExit("--users needs one count per --concurrency")
    if args.embedded:
        return await embedded(args)
    names = [n for n in ("roster", "http", "before", "peer") if n in args.systems]
    if args.before is None and "before" in names:
        names.remove("before")
    if not args.http and "http" in names:
        names.remove("http")
    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}", flush=True)
        stacks: list[Processes] = []
        targets: dict[str, tuple[str, str]] = {}
        tenant_id = ""
        try:
            if "roster" in names:
                stack, base, tenant_id, token = await _roster(
                    kafka.bootstrap, pg, scim_provisioning.ROSTER, reader=not args.no_reader
                )
                stacks.append(stack)
                targets["roster"] = (f"{base}/scim/v2/bench", token)
            if "http" in names:
                stack, base, _, token = await _roster(kafka.bootstrap, pg, scim_provisioning.ROSTER)
                stacks.append(stack)
                targets["http"] = (f"{base}/scim/v2/bench", token)
            if "before" in names:
                # Served as the roster arm is (reader role unless --no-reader): the checkout
                # given must know ROSTER_READER_DATABASE_URL, as every one since the reader does.
                stack, base, _, token = await _roster(
                    kafka.bootstrap, pg, args.before, reader=not args.no_reader
                )
                stacks.append(stack)
                targets["before"] = (f"{base}/scim/v2/bench", token)
            peer = None
            if "peer" in names:
                peer_token = secrets.token_urlsafe(16)
                peer, peer_base = await serve_peer(peer_token)
                targets["peer"] = (peer_base, peer_token)
            if "raw" in args.systems:
                url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
                dsn = url.replace("postgresql+asyncpg://", "postgresql://")
                tenant_id = tenant_id or (await _tenant(url))[0]
            print(
                "pids: "
                + "; ".join(
                    f"{n} {[p.pid for p in s.processes]} (user-store, scim-api)"
                    for n, s in zip([n for n in names if n != "peer"], stacks, strict=True)
                )
                + (f"; scim2-server {peer.pid}" if peer else ""),
                flush=True,
            )
            pids = {
                **{
                    n: [p.pid for p in s.processes]
                    for n, s in zip([n for n in names if n != "peer"], stacks, strict=True)
                },
                "peer": [peer.pid] if peer else [],
            }
            samples: dict[str, dict[str, list[Any]]] = {
                name: {str(c): [] for c in args.concurrency}
                for name in (*names, "raw_asyncpg", "raw_aiokafka")
            }
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                endpoints = {n: GENERATORS[args.generator](http, *targets[n]) for n in names}
                for endpoint in endpoints.values():
                    await endpoint.create(user_body("warmup", 0))
                for round_no in range(args.rounds):
                    for cell, (conc, users) in enumerate(
                        zip(args.concurrency, args.users, strict=True)
                    ):
                        tag = f"r{round_no}c{conc}"
                        order = list(endpoints.items())
                        if (round_no + cell) % 2:
                            order.reverse()  # no arm always runs first (or right after raw)
                        for name, endpoint in order:
                            outcome = await scim_round(
                                endpoint, f"{tag}{name}", users, conc, pids[name]
                            )
                            samples[name][str(conc)].append(outcome)
                            print(f"round {round_no} conc {conc} {name}: {outcome}", flush=True)
                        if "raw" not in args.systems:
                            continue
                        outcome = await raw_database(dsn, tenant_id, tag, users, conc)
                        samples["raw_asyncpg"][str(conc)].append(outcome)
                        print(f"round {round_no} conc {conc} raw asyncpg: {outcome}", flush=True)
                        hop = await raw_kafka(kafka.bootstrap, users, conc)
                        samples["raw_aiokafka"][str(conc)].append(hop)
                        print(f"round {round_no} conc {conc} raw aiokafka: {hop}", flush=True)
                failures = {n: e.failures for n, e in endpoints.items()}
                for endpoint in endpoints.values():
                    if isinstance(endpoint, RawEndpoint):
                        endpoint.client.close()
        finally:
            if peer is not None:
                peer.terminate()
                peer.wait(10)
            for stack in stacks:
                await stack.stop()

    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end",
        "rounds": args.rounds,
        "failures": failures,
    }
    results["budget"] = budget_table(samples, [n for n in names if n != "peer"])
    if not {"roster", "peer", "raw"} <= set(args.systems):
        return {**results, "samples": samples, "table": "(a partial run: no table)"}
    for name in (*names, "raw_asyncpg"):
        results[name] = {
            # The raw database arm has no get+writes scenario.
            conc: {op: _median([s[op] for s in runs]) for op in OPS if op in runs[0]}
            for conc, runs in samples[name].items()
        }
    results["raw_aiokafka"] = {c: _median(runs) for c, runs in samples["raw_aiokafka"].items()}
    results["table"] = table(results, args.concurrency)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--users", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--rounds", type=int, default=1, help="repeat; each cell is the median")
    parser.add_argument(
        "--generator",
        choices=sorted(GENERATORS),
        default="raw",
        help="how the load is sent: pre-rendered keep-alive requests (raw, bench/raw_http.py) "
        "or aiohttp's client, as before",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="the `roster` executable of another checkout (e.g. main's .venv/bin/roster): "
        "served beside this one on its own database, a before/after column in the same run",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="also this checkout with every read through the user-store over HTTP (no reader "
        "URL), on its own database: an `http` column beside the reader arm, same run",
    )
    parser.add_argument(
        "--no-reader",
        action="store_true",
        help="the Roster arm without the reader URL (as before the reader existed)",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=["roster", "http", "before", "peer", "raw"],
        default=["roster", "http", "before", "peer", "raw"],
        help="a subset, e.g. `--systems roster` to hold load on Roster while profiling it",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="`roster dev` (SQLite, in-process bus) of this checkout and of --before, no peer/raw",
    )
    arguments = parser.parse_args()
    # Before anything starts: how fast the machine is today at what Roster does (bench/machine).
    probe = machine.probe()
    print(f"machine today: {json.dumps(probe)}", flush=True)
    outcome = asyncio.run(main(arguments))
    outcome["probe"] = probe
    print(outcome["table"])
    print("\nCPU per request (ms) by process, and the rate every CPU busy would allow:")
    print(outcome["budget"])
    print(f"failures: {outcome['failures']}; {outcome['machine']}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"compare-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(outcome, indent=2) + "\n"
    )
