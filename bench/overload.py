"""Benchmark: SCIM creates under 2x overload against the throughput at saturation (issue 12).

The user-store and scim-api run as ``roster serve`` processes (as in production: the load
generator's CPU is not the service's event loop) on a private Kafka + PostgreSQL. Same run:

1. **saturation** — one stack with shedding out of reach; closed loops of ``--ladder`` clients
   (each sends its next POST when the last is answered). The best is X creates/s: the plateau.
2. **2x overload**, an open loop offering 2X POST/s for ``--seconds``, on four stacks:
   ``defaults`` (the settings as shipped: a fixed bound of 256 in all, 64 per tenant),
   ``adaptive`` (``LatencyLimit``, ceiling out of reach so the adaptive bound alone decides),
   ``fixed`` (``ROSTER_MAX_IN_FLIGHT`` = the best concurrency of step 1) and ``none`` (no
   bound).

Goodput = 201s per second of offered load, as a ratio to X (the issue asks >= 0.9 with
shedding on).

``--rounds N`` measures the shipped settings alone, the way the issue states the goal: each
round is two arms measured the same way — a fresh stack with the settings as shipped (request
log on, scim-api at INFO), the same warm-up, the same window — first **saturation** (a closed
loop of as many clients as the service admits, ``ROSTER_MAX_IN_FLIGHT``: the most it will
serve at once, so its throughput is the plateau of the service as configured), then **2x** (an
open loop at twice that round's saturation). Each round's ratio is 2x over its own saturation;
rounds interleave the arms so that a busy spell on the shared machine hits both.

Per phase: shed (429/503 with Retry-After 1, at once), late (503 at the
deadline: work queued past it), latency of the 201s, the in-flight bound scim-api ended with
(its ``_in_flight_limit`` metric), the load average. Every 201 is checked in PostgreSQL.
Repeat runs (``--repeat``) to see the spread on a shared machine.

    uv run python bench/overload.py [--seconds 20] [--ladder 16,64,256] [--repeat 1]
    uv run python bench/overload.py --rounds 4 [--seconds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from raw_http import HttpError, RawClient
from roster_testing.faults.check import stored_users
from roster_testing.faults.scenarios import Servers, stack
from roster_testing.infra import kafka_cache_dir
from roster_testing.kafka import LocalKafka, ensure_kafka_classpath
from roster_testing.postgres import LocalPostgres

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
DEADLINE = 25.0
UNBOUNDED = {"ROSTER_ADAPTIVE_IN_FLIGHT": "false", "ROSTER_MAX_IN_FLIGHT": "1000000"}


class Outcomes:
    def __init__(self) -> None:
        self.ok: list[float] = []
        self.shed = 0
        self.late = 0
        self.failed: dict[str, int] = {}
        self.slowest = 0.0
        self.acked: list[str] = []
        self.connections = 0  # the raw generator's connections opened by the arm's end
        # 201s answered before the window closed: the throughput counts these only, not the
        # drain of the requests still in flight at its end (up to the bound, 1024, in both
        # arms: ~8 % of a 20 s window at 600/s, more for shorter windows).
        self.window_end = float("inf")
        self.in_window = 0

    def record(self, status: int, retry_after: str | None, elapsed: float, name: str) -> None:
        self.slowest = max(self.slowest, elapsed)
        if status == 201:
            self.ok.append(elapsed)
            self.acked.append(name)
            if time.monotonic() <= self.window_end:
                self.in_window += 1
        elif status in (429, 503) and retry_after == "1":
            self.shed += 1
        elif status == 503:
            self.late += 1
        else:
            self.failed[str(status)] = self.failed.get(str(status), 0) + 1


async def _closed(
    seconds: float, clients: int, send: Callable[[], Awaitable[None]], outcomes: Outcomes
) -> None:
    end = time.monotonic() + seconds
    outcomes.window_end = end

    async def client() -> None:
        while time.monotonic() < end:
            await send()

    await asyncio.gather(*(client() for _ in range(clients)))


TICK = 0.002
"""The open loop sends what is due every 2 ms, not each request at its own instant: a timer
and a loop iteration (an epoll wait) per request made the open loop cost the generator ~5x
the CPU per request of a closed loop (0.135 vs 0.028 ms, bench/refusal_cost.py), CPU taken
from the services it measures on a 2-core machine. The offered rate is the same; arrivals
come in groups of rate x 2 ms (2-3 at 1,200/s)."""


async def _open(
    seconds: float, rate: float, send: Callable[[], Awaitable[None]], outcomes: Outcomes
) -> None:
    tasks: list[asyncio.Task[None]] = []
    start, n = time.monotonic(), 0
    outcomes.window_end = start + seconds
    total = int(seconds * rate)
    while n < total:
        now = time.monotonic()
        due = min(total, int((now - start) * rate) + 1)
        while n < due:
            tasks.append(asyncio.ensure_future(send()))
            n += 1
        await asyncio.sleep(TICK)
    await asyncio.gather(*tasks, return_exceptions=True)


Sender = Callable[[Outcomes], Callable[[], Awaitable[None]]]


def _fresh(sender: Sender) -> tuple[Callable[[], Awaitable[None]], Outcomes]:
    """A send recording into outcomes nobody reads (a warm-up's)."""
    outcomes = Outcomes()
    return sender(outcomes), outcomes


GENERATOR = "raw"
"""How the generator sends: ``raw`` (:mod:`raw_http`, pre-rendered keep-alive requests, a
tenth of the CPU) or ``aiohttp`` (its ClientSession, as this bench did before)."""


@asynccontextmanager
async def _client(
    base: str, tenants: list[tuple[str, str]]
) -> AsyncIterator[tuple[Sender, aiohttp.ClientSession]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        if GENERATOR == "raw":
            yield _raw_sender(base, tenants), http
            return
        async with _aiohttp_client(base, tenants) as sender:
            yield sender, http


def _raw_sender(base: str, tenants: list[tuple[str, str]]) -> Sender:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    client = RawClient(host, port)
    # Everything but the body's userName is rendered once per tenant.
    heads = [
        (
            f"POST /scim/v2/{slug}/Users HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/scim+json\r\n"
            "Content-Length: "
        ).encode()
        for slug, token in tenants
    ]
    body_start = ('{"schemas":["' + USER + '"],"userName":"').encode()
    run = uuid.uuid4().hex[:6]
    turn = 0

    def sender(outcomes: Outcomes) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            nonlocal turn
            head = heads[turn % len(heads)]
            name = f"o{run}{turn}@example.com"
            turn += 1
            body = body_start + name.encode() + b'"}'
            data = head + str(len(body)).encode() + b"\r\n\r\n" + body
            started = time.monotonic()
            try:
                answer = await client.request(data)
            except (HttpError, TimeoutError) as error:
                outcomes.record(0, type(error).__name__, time.monotonic() - started, name)
                return
            outcomes.record(answer.status, answer.retry_after, time.monotonic() - started, name)
            outcomes.connections = client.opened

        return send

    return sender


@asynccontextmanager
async def _aiohttp_client(base: str, tenants: list[tuple[str, str]]) -> AsyncIterator[Sender]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        turn = 0

        def sender(outcomes: Outcomes) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                nonlocal turn
                slug, token = tenants[turn % len(tenants)]
                turn += 1
                name = f"o{uuid.uuid4().hex[:14]}@example.com"
                started = time.monotonic()
                try:
                    async with http.post(
                        f"{base}/scim/v2/{slug}/Users",
                        json={"schemas": [USER], "userName": name},
                        headers={"Authorization": f"Bearer {token}"},
                    ) as response:
                        await response.read()
                        outcomes.record(
                            response.status,
                            response.headers.get("Retry-After"),
                            time.monotonic() - started,
                            name,
                        )
                except (aiohttp.ClientError, TimeoutError) as error:
                    outcomes.record(0, type(error).__name__, time.monotonic() - started, name)

            return send

        yield sender


async def _gauge(http: aiohttp.ClientSession, base: str, name: str) -> float | None:
    async with http.get(f"{base}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


async def _bound(http: aiohttp.ClientSession, base: str) -> float | None:
    return await _gauge(http, base, "roster_scim_api_in_flight_limit")


async def _sample_in_flight(http: aiohttp.ClientSession, base: str, samples: list[float]) -> None:
    """scim-api's requests in flight, five times a second until cancelled: how full the
    bound is kept (a closed loop refills a freed place at once, an open loop as requests come)."""
    while True:
        value = await _gauge(http, base, "roster_scim_api_in_flight")
        if value is not None:
            samples.append(value)
        await asyncio.sleep(0.2)


def _report(
    label: str, outcomes: Outcomes, seconds: float, capacity: float | None
) -> dict[str, Any]:
    rate = outcomes.in_window / seconds
    ok = sorted(outcomes.ok)
    return {
        "phase": label,
        "created_per_s": round(rate, 1),
        "ratio": round(rate / capacity, 2) if capacity else None,
        "shed": outcomes.shed,
        "late": outcomes.late,
        "other": outcomes.failed,
        "p50_s": round(statistics.median(ok), 2) if ok else None,
        "p99_s": round(ok[int(len(ok) * 0.99) - 1], 2) if len(ok) > 100 else None,
        "slowest_s": round(outcomes.slowest, 1),
        "load": round(os.getloadavg()[0], 1),
        "connections": outcomes.connections,
    }


async def one_run(
    servers: Servers, logs: Path, seconds: float, ladder: list[int]
) -> list[dict[str, Any]]:
    rows = []
    capacity, best = 0.0, ladder[0]
    async with (
        stack(servers, logs / "saturation", UNBOUNDED) as (base, tenants, database, _),
        _client(base, tenants) as (sender, _http),
    ):
        warm = Outcomes()
        await _closed(3, 8, sender(warm), warm)
        for clients in ladder:
            outcomes = Outcomes()
            await _closed(seconds, clients, sender(outcomes), outcomes)
            row = _report(f"closed loop, {clients} clients", outcomes, seconds, None)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if row["created_per_s"] > capacity:
                capacity, best = row["created_per_s"], clients
    for row in rows:
        row["ratio"] = round(row["created_per_s"] / capacity, 2)
    phases: dict[str, dict[str, str]] = {
        "2X, shipped defaults": {},
        "2X, adaptive limit": {
            "ROSTER_ADAPTIVE_IN_FLIGHT": "true",
            "ROSTER_MAX_IN_FLIGHT": "1000000",
        },
        f"2X, fixed bound {best}": {
            "ROSTER_ADAPTIVE_IN_FLIGHT": "false",
            "ROSTER_MAX_IN_FLIGHT": str(best),
        },
        "2X, no bound": UNBOUNDED,
    }
    for label, env in phases.items():
        async with stack(servers, logs / label.replace(" ", "_"), env) as (
            base,
            tenants,
            database,
            _store,
        ):
            async with _client(base, tenants) as (sender, http):
                await _closed(3, 8, *_fresh(sender))
                outcomes = Outcomes()
                await _open(seconds, 2 * capacity, sender(outcomes), outcomes)
                row = _report(label, outcomes, seconds, capacity)
                row["bound_at_end"] = await _bound(http, base)
            stored = {r["user_name"] for r in await stored_users(database, None)}
            row["lost"] = len(set(outcomes.acked) - stored)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


SHIPPED = {"ROSTER_REQUEST_LOG": "true", "ROSTER_LOG_LEVEL": "INFO"}


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) so far of this process (the load generator) and of the
    ``roster serve`` processes it started, by service: what each arm cost whom."""
    tick = os.sysconf("SC_CLK_TCK")
    spent = {"generator": time.process_time()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) != os.getpid() or b"serve" not in argv:
            continue
        service = argv[argv.index(b"serve") + 1].decode()
        spent[service] = spent.get(service, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return spent


async def _arm(
    servers: Servers,
    logs: Path,
    seconds: float,
    *,
    clients: int | None,
    rate: float | None,
    env: dict[str, str] | None = None,
) -> tuple[Outcomes, dict[str, Any]]:
    """One arm on a fresh stack with the shipped settings (``env`` added): a closed loop of
    ``clients`` or an open loop at ``rate``."""
    async with stack(servers, logs, {**SHIPPED, **(env or {})}) as (
        base,
        tenants,
        database,
        store,
    ):
        async with _client(base, tenants) as (sender, http):
            await _closed(3, 8, *_fresh(sender))
            outcomes = Outcomes()
            load = os.getloadavg()[0]
            before = _cpu_seconds()
            samples: list[float] = []
            sampler = asyncio.ensure_future(_sample_in_flight(http, base, samples))
            batches = await _gauge(http, store, "roster_user_store_batches_applied")
            events = await _gauge(http, store, "roster_user_store_events_applied")
            if clients is not None:
                await _closed(seconds, clients, sender(outcomes), outcomes)
            else:
                assert rate is not None
                await _open(seconds, rate, sender(outcomes), outcomes)
            sampler.cancel()
            after = _cpu_seconds()
            row = _report("", outcomes, seconds, None)
            row["in_flight_mean"] = round(statistics.mean(samples)) if samples else None
            batches = (await _gauge(http, store, "roster_user_store_batches_applied") or 0) - (
                batches or 0
            )
            events = (await _gauge(http, store, "roster_user_store_events_applied") or 0) - (
                events or 0
            )
            row["batch_mean"] = round(events / batches, 1) if batches else None
            row["cpu"] = {k: round(after[k] - before.get(k, 0.0), 1) for k in after}
            row["load_before"] = round(load, 1)
            row["bound_at_end"] = await _bound(http, base)
        stored = {r["user_name"] for r in await stored_users(database, None)}
        row["lost"] = len(set(outcomes.acked) - stored)
    return outcomes, row


def _per_cpu(row: dict[str, Any]) -> float:
    cpu: dict[str, float] = row["cpu"]
    return float(row["created_per_s"]) / max(0.1, cpu.get("scim-api", 0) + cpu.get("user-store", 0))


def _cpu(row: dict[str, Any]) -> str:
    cpu = row["cpu"]
    return " / ".join(str(cpu.get(k, "?")) for k in ("scim-api", "user-store", "generator"))


def _shed_cost(sat: dict[str, Any], over: dict[str, Any], seconds: float) -> float:
    """scim-api CPU milliseconds per refusal: what the 2x arm's scim-api spent beyond its
    201s at the saturation arm's CPU per 201."""
    per_ok = float(sat["cpu"]["scim-api"]) / max(1.0, sat["created_per_s"] * seconds)
    beyond = float(over["cpu"]["scim-api"]) - per_ok * over["created_per_s"] * seconds
    return round(1000 * beyond / max(1, int(over["shed"])), 2)


async def rounds(
    servers: Servers, logs: Path, seconds: float, count: int, clients: int, per_tenant: int
) -> None:
    """``per_tenant``: also a 2x arm bounded by tenant shares instead (``per_tenant`` each,
    the bound in all out of reach): its refusals are 429s through the middlewares, where the
    shipped arm's 503s are answered before routing — the cost of a refusal, A/B."""
    ratios: list[float] = []
    efficiency: list[float] = []
    by_tenant: list[float] = []
    print(
        f"| round | saturation (closed loop, {clients} clients) | 2x offered | 2x goodput "
        "| ratio | 2x shed | 2x late | 2x p50 / p99 | sat p50 / p99 | lost "
        "| load avg (sat, 2x) | CPU s sat: scim-api / user-store / generator | CPU s 2x "
        "| ratio per service CPU s | scim-api ms per refusal | connections opened sat / 2x "
        "| mean in flight sat / 2x | mean ingest batch sat / 2x"
        + (" | 2x by tenant shares: ratio, shed, ms per refusal |" if per_tenant else " |"),
        flush=True,
    )
    for n in range(count):
        _, sat = await _arm(servers, logs / f"r{n}-sat", seconds, clients=clients, rate=None)
        x = sat["created_per_s"]
        _, over = await _arm(servers, logs / f"r{n}-2x", seconds, clients=None, rate=2 * x)
        ratio = round(over["created_per_s"] / x, 2)
        ratios.append(ratio)
        # The same ratio per CPU second the two services got: what shedding costs them,
        # whatever share of the shared machine each arm happened to get.
        per_cpu = round(_per_cpu(over) / _per_cpu(sat), 2)
        efficiency.append(per_cpu)
        shares = ""
        if per_tenant:
            _, tenant = await _arm(
                servers,
                logs / f"r{n}-2x-tenant",
                seconds,
                clients=None,
                rate=2 * x,
                env={
                    "ROSTER_MAX_IN_FLIGHT": "1000000",
                    "ROSTER_MAX_IN_FLIGHT_PER_TENANT": str(per_tenant),
                },
            )
            by_tenant.append(round(tenant["created_per_s"] / x, 2))
            shares = f" {by_tenant[-1]}, {tenant['shed']}, {_shed_cost(sat, tenant, seconds)} |"
        print(
            f"| {n + 1} | {x}/s | {round(2 * x, 1)}/s | {over['created_per_s']}/s | {ratio} "
            f"| {over['shed']} | {over['late']} | {over['p50_s']} / {over['p99_s']} s "
            f"| {sat['p50_s']} / {sat['p99_s']} s | {sat['lost'] + over['lost']} "
            f"| {sat['load_before']}-{sat['load']}, {over['load_before']}-{over['load']} "
            f"| {_cpu(sat)} | {_cpu(over)} | {per_cpu} | {_shed_cost(sat, over, seconds)} "
            f"| {sat['connections']} / {over['connections']} "
            f"| {sat['in_flight_mean']} / {over['in_flight_mean']} "
            f"| {sat['batch_mean']} / {over['batch_mean']} |" + shares,
            flush=True,
        )
    print(
        f"\nratio min {min(ratios)} median {statistics.median(ratios)} max {max(ratios)} "
        f"over {count} rounds; per service CPU second: min {min(efficiency)} "
        f"median {statistics.median(efficiency)} max {max(efficiency)}"
        + (
            f"; by tenant shares: min {min(by_tenant)} median {statistics.median(by_tenant)}"
            if by_tenant
            else ""
        ),
        flush=True,
    )


async def alternating(
    servers: Servers, logs: Path, seconds: float, count: int, pairs: int, clients: int
) -> None:
    """``--alternate PAIRS``: each round is one stack with the shipped settings, on which
    saturation and 2x windows alternate ``pairs`` times (each 2x window offers twice the
    saturation just measured). Drift of the shared machine (other work, its load going up
    and down over minutes) then hits both arms alike, where arms on separate stacks a minute
    apart can differ by more than the effect measured. Throughput counts the 201s answered
    within each window."""
    print(
        f"| round | saturation X (closed loop, {clients} clients, {pairs} windows) | 2x goodput "
        "| ratio | per-pair ratios | 2x shed | 2x late | lost | CPU s sat: scim-api / "
        "user-store / generator | CPU s 2x | ratio per service CPU s | mean ingest batch sat / 2x "
        "| load avg |",
        flush=True,
    )
    ratios: list[float] = []
    for n in range(count):
        arms: dict[str, list[dict[str, Any]]] = {"sat": [], "2x": []}
        acked: list[str] = []
        async with (
            stack(servers, logs / f"r{n}", SHIPPED) as (base, tenants, database, store),
            _client(base, tenants) as (sender, http),
        ):
            await _closed(3, 8, *_fresh(sender))
            for _ in range(pairs):
                for arm in ("sat", "2x"):
                    outcomes = Outcomes()
                    before = _cpu_seconds()
                    batches = await _gauge(http, store, "roster_user_store_batches_applied")
                    events = await _gauge(http, store, "roster_user_store_events_applied")
                    if arm == "sat":
                        await _closed(seconds, clients, sender(outcomes), outcomes)
                    else:
                        rate = 2 * arms["sat"][-1]["created_per_s"]
                        await _open(seconds, rate, sender(outcomes), outcomes)
                    after = _cpu_seconds()
                    row = _report(arm, outcomes, seconds, None)
                    row["cpu"] = {k: after[k] - before.get(k, 0.0) for k in after}
                    row["batches"] = (
                        await _gauge(http, store, "roster_user_store_batches_applied") or 0
                    ) - (batches or 0)
                    row["events"] = (
                        await _gauge(http, store, "roster_user_store_events_applied") or 0
                    ) - (events or 0)
                    arms[arm].append(row)
                    acked += outcomes.acked
            stored = {r["user_name"] for r in await stored_users(database, None)}
        lost = len(set(acked) - stored)
        sat = statistics.mean(r["created_per_s"] for r in arms["sat"])
        over = statistics.mean(r["created_per_s"] for r in arms["2x"])
        ratio = round(over / sat, 2)
        ratios.append(ratio)
        pair_ratios = [
            round(o["created_per_s"] / s["created_per_s"], 2)
            for s, o in zip(arms["sat"], arms["2x"], strict=True)
        ]

        def cpu(arm: str, key: str, arms: dict[str, list[dict[str, Any]]] = arms) -> float:
            return round(sum(r["cpu"].get(key, 0.0) for r in arms[arm]), 1)

        def per_cpu(arm: str, rate: float) -> float:
            return rate / max(0.1, cpu(arm, "scim-api") + cpu(arm, "user-store"))

        def batch(arm: str, arms: dict[str, list[dict[str, Any]]] = arms) -> float:
            done = sum(r["batches"] for r in arms[arm])
            return round(sum(r["events"] for r in arms[arm]) / done, 1) if done else 0.0

        print(
            f"| {n + 1} | {round(sat, 1)}/s | {round(over, 1)}/s | {ratio} "
            f"| {' '.join(map(str, pair_ratios))} | {sum(r['shed'] for r in arms['2x'])} "
            f"| {sum(r['late'] for r in arms['2x'])} | {lost} "
            f"| {cpu('sat', 'scim-api')} / {cpu('sat', 'user-store')} / {cpu('sat', 'generator')} "
            f"| {cpu('2x', 'scim-api')} / {cpu('2x', 'user-store')} / {cpu('2x', 'generator')} "
            f"| {round(per_cpu('2x', over) / per_cpu('sat', sat), 2)} "
            f"| {batch('sat')} / {batch('2x')} | {round(os.getloadavg()[0], 1)} |",
            flush=True,
        )
    print(
        f"\nratio min {min(ratios)} median {statistics.median(ratios)} max {max(ratios)} "
        f"over {count} rounds of {pairs} alternating pairs of {seconds:g} s windows",
        flush=True,
    )


async def main() -> None:
    global GENERATOR
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--ladder", default="16,64,256")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--rounds", type=int, default=0, help="shipped settings only: saturation, 2x, N times"
    )
    parser.add_argument(
        "--clients", type=int, default=1024, help="saturation's closed loop (= the bound)"
    )
    parser.add_argument(
        "--alternate",
        type=int,
        default=0,
        metavar="PAIRS",
        help="with --rounds: one stack per round, saturation and 2x windows alternating PAIRS "
        "times",
    )
    parser.add_argument(
        "--per-tenant",
        type=int,
        default=0,
        help="with --rounds: a third arm bounded by tenant shares of this size (4 tenants)",
    )
    parser.add_argument(
        "--generator",
        choices=("raw", "aiohttp"),
        default=GENERATOR,
        help="how requests are sent: pre-rendered keep-alive (raw) or aiohttp's client",
    )
    args = parser.parse_args()
    GENERATOR = args.generator
    ladder = [int(n) for n in args.ladder.split(",")]
    logs = Path(tempfile.mkdtemp(prefix="roster-overload-"))
    classpath = ensure_kafka_classpath(kafka_cache_dir())
    with LocalKafka(classpath, quick_start=False) as kafka, LocalPostgres() as postgres:
        servers = Servers(kafka.bootstrap, postgres.server_url, kafka, postgres)
        if args.rounds and args.alternate:
            await alternating(
                servers, logs, args.seconds, args.rounds, args.alternate, args.clients
            )
            return
        if args.rounds:
            await rounds(servers, logs, args.seconds, args.rounds, args.clients, args.per_tenant)
            return
        for run in range(args.repeat):
            rows = await one_run(servers, logs / f"run{run}", args.seconds, ladder)
            print(
                f"\nrun {run + 1}: | phase | creates/s | x saturation | shed | late | p50 | "
                "p99 | slowest | bound at end | lost | load avg |"
            )
            for r in rows:
                print(
                    f"| {r['phase']} | {r['created_per_s']} | {r['ratio']} | {r['shed']} "
                    f"| {r['late']} | {r['p50_s']} s | {r['p99_s']} s | {r['slowest_s']} s "
                    f"| {r.get('bound_at_end', '')} | {r.get('lost', '')} | {r['load']} |",
                    flush=True,
                )


if __name__ == "__main__":
    asyncio.run(main())
