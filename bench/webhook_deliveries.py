"""Benchmark: webhook deliveries (issue 14, "Measure"), on Kafka + PostgreSQL, against a raw
aiohttp POST loop to the same receiver in the same run.

The user-store, scim-api and webhooks service are composed in this process (as ``roster dev``
composes them, but on Kafka and PostgreSQL); the receiver runs in a process of its own and
verifies every signature with the ``standardwebhooks`` package, as an app would.

* steady: SCIM POST /Users at a fixed rate for a while; end-to-end latency from the SCIM 201 to
  the receiver having the ``user.created`` webhook, p50/p99, and deliveries per second;
* backlog: with the endpoint paused, a backlog of creates builds up; on resume, how fast the
  service drains it (deliveries per second, all users distinct so the per-user order does not
  serialise them);
* baseline: the same number of POSTs of the same body size by a plain aiohttp loop at the same
  concurrency to the same receiver (no Kafka, no database, no signing): requests per second and
  p50/p99 — what HTTP alone costs on this machine.

    uv run python bench/webhook_deliveries.py [--rate 50] [--seconds 20] [--backlog 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import aiohttp
from aiohttp import web
from roster_cli import compose
from roster_shared.bus.kafka import KafkaBus
from roster_shared.tenants import ProvisioningMode
from roster_testing.infra import kafka_service, postgres_service
from standardwebhooks import Webhook, WebhookVerificationError
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


# -- the receiver: a process of its own (`python bench/webhook_deliveries.py --receiver`) --


async def _receiver() -> None:
    secret: list[str] = []
    seen: dict[str, float] = {}
    bad = [0]

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        if request.match_info["kind"] == "raw":
            return web.Response(status=204)
        try:
            event = Webhook(secret[0]).verify(body, dict(request.headers))
        except (WebhookVerificationError, IndexError):
            bad[0] += 1
            return web.Response(status=401)
        user = (event.get("data") or {}).get("user") or {}
        if event.get("type") == "user.created":
            seen.setdefault(str(user.get("user_name")), now)
        return web.Response(status=204)

    async def set_secret(request: web.Request) -> web.Response:
        secret[:] = [await request.text()]
        return web.Response(status=204)

    async def log(_request: web.Request) -> web.Response:
        return web.json_response({"seen": seen, "bad": bad[0]})

    app = web.Application()
    app.router.add_post("/hook/{kind}", hook)
    app.router.add_put("/secret", set_secret)
    app.router.add_get("/log", log)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


# -- the load generator ------------------------------------------------------------------------


def user_body(prefix: str, i: int) -> dict[str, Any]:
    name = f"{prefix}{i:06d}@example.com"
    return {
        "schemas": [USER],
        "userName": name,
        "externalId": f"{prefix}-ext-{i:06d}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
    }


class Bench:
    def __init__(self, http: aiohttp.ClientSession, base: str, receiver: str, admin: str):
        self.http = http
        self.base = base
        self.receiver = receiver
        self.admin = {"Authorization": f"Bearer {admin}"}

    async def create(self, token: str, body: dict[str, Any]) -> float:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        async with self.http.post(
            f"{self.base}/scim/v2/bench/Users", json=body, headers=headers
        ) as response:
            await response.read()
            assert response.status == 201, response.status
        return time.time()

    async def seen(self) -> dict[str, float]:
        async with self.http.get(f"{self.receiver}/log") as response:
            data = await response.json()
        assert data["bad"] == 0, data
        return dict(data["seen"])

    async def wait_for(self, names: list[str]) -> dict[str, float]:
        deadline = time.monotonic() + 600
        while True:
            seen = await self.seen()
            if all(name in seen for name in names):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"{sum(n in seen for n in names)}/{len(names)} delivered")
            await asyncio.sleep(0.2)

    async def endpoint(self, action: str, endpoint: str = "") -> Any:
        path = f"{self.base}/webhooks/admin/tenants/bench/endpoints"
        if action == "add":
            async with self.http.post(
                path, json={"url": f"{self.receiver}/hook/roster"}, headers=self.admin
            ) as r:
                return await r.json()
        async with self.http.post(f"{path}/{endpoint}/{action}", json={}, headers=self.admin) as r:
            return await r.json()

    async def pending(self, endpoint: str) -> int:
        path = f"{self.base}/webhooks/admin/tenants/bench/endpoints/{endpoint}"
        async with self.http.get(path, headers=self.admin) as r:
            return int((await r.json())["pending"])


async def steady(bench: Bench, token: str, rate: float, seconds: float) -> dict[str, Any]:
    """Creates at ``rate`` per second for ``seconds``; latency SCIM 201 -> webhook received."""
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    tasks = []
    started = time.monotonic()
    for i in range(count):
        body = user_body("steady", i)

        async def one(body: dict[str, Any] = body) -> None:
            sent[body["userName"]] = await bench.create(token, body)

        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
    await asyncio.gather(*tasks)
    seen = await bench.wait_for(list(sent))
    latencies = [seen[name] - at for name, at in sent.items()]
    first, last = min(sent.values()), max(seen[name] for name in sent)
    return {
        "offered_per_second": rate,
        "deliveries_per_second": round(count / (last - first), 1),
        "scim_201_to_webhook": percentiles(latencies),
    }


async def backlog(bench: Bench, token: str, endpoint: str, count: int) -> dict[str, Any]:
    """A paused endpoint's backlog of ``count`` deliveries, drained on resume."""
    await bench.endpoint("pause", endpoint)
    limit = asyncio.Semaphore(32)
    names = []

    async def one(i: int) -> None:
        body = user_body("backlog", i)
        names.append(body["userName"])
        async with limit:
            await bench.create(token, body)

    await asyncio.gather(*(one(i) for i in range(count)))
    while await bench.pending(endpoint) < count:  # noqa: ASYNC110 - polling the service
        await asyncio.sleep(0.2)
    started = time.time()
    await bench.endpoint("resume", endpoint)
    seen = await bench.wait_for(names)
    elapsed = max(seen[name] for name in names) - started
    return {
        "deliveries": count,
        "seconds": round(elapsed, 2),
        "per_second": round(count / elapsed, 1),
    }


async def baseline(bench: Bench, count: int, concurrency: int, size: int) -> dict[str, Any]:
    """A plain aiohttp POST loop to the same receiver, same body size, same concurrency."""
    body = json.dumps({"pad": "x" * size}).encode()
    latencies: list[float] = []
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            queue.pop()
            started = time.monotonic()
            async with bench.http.post(f"{bench.receiver}/hook/raw", data=body) as response:
                await response.read()
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    return {"per_second": round(count / elapsed, 1), **percentiles(latencies)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}", file=sys.stderr)
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        engine = create_engine(url)
        await migrate(engine)
        async with session_factory(engine)() as session, session.begin():
            tenant = await tenants.create_tenant(session, "bench", ProvisioningMode.SCIM)
            token = (await tenants.issue_token(session, tenant.id)).token
        receiver = subprocess.Popen(  # noqa: ASYNC220 - started once, read once
            [sys.executable, __file__, "--receiver"], stdout=subprocess.PIPE, text=True
        )
        assert receiver.stdout is not None
        receiver_url = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
        admin = secrets.token_urlsafe(16)
        bus = KafkaBus(kafka.bootstrap, client_id="bench-webhooks")
        await bus.start()
        sock = compose.bind("127.0.0.1", 0)
        wiring = compose.Wiring(
            database_url=url,
            self_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
            admin_token=admin,
            internal_token=secrets.token_urlsafe(16),
            topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
            overrides={compose.WEBHOOKS: {"allow_loopback": True, "poll_interval": 0.2}},
        )
        app = compose.compose(
            wiring, bus=bus, engine=engine, services=[compose.SCIM_API, compose.WEBHOOKS]
        )
        try:
            async with (
                compose.listening(app, sock) as base,
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
            ):
                bench = Bench(http, base, receiver_url, admin)
                made = await bench.endpoint("add")
                async with http.put(f"{receiver_url}/secret", data=made["secret"]) as r:
                    assert r.status == 204
                await bench.create(token, user_body("warmup", 0))
                await bench.wait_for(["warmup000000@example.com"])
                result: dict[str, Any] = {
                    "machine": "2 shared cores, ~6 engineers' jobs running: absolute numbers "
                    "vary run to run; compare the ratios",
                    "steady": await steady(bench, token, args.rate, args.seconds),
                    "backlog": await backlog(bench, token, made["endpoint"]["id"], args.backlog),
                    "baseline_raw_post": await baseline(bench, args.backlog, 64, 1200),
                }
        finally:
            await bus.stop()
            receiver.terminate()
            receiver.communicate(timeout=30)
        raw = result["baseline_raw_post"]
        result["ratios"] = {
            "backlog_deliveries_vs_raw_posts": round(
                result["backlog"]["per_second"] / raw["per_second"], 3
            ),
            "steady_p50_vs_raw_post_p50": round(
                result["steady"]["scim_201_to_webhook"]["p50_ms"] / raw["p50_ms"], 1
            ),
        }
        return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=50.0, help="SCIM creates per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the steady run")
    parser.add_argument("--backlog", type=int, default=2000, help="deliveries in the backlog")
    arguments = parser.parse_args()
    if arguments.receiver:
        asyncio.run(_receiver())
    else:
        print(json.dumps(asyncio.run(main(arguments)), indent=2))
