"""Benchmark: SAML ACS logins and OIDC callbacks per second and their latency, end to end
(HTTP, protocol checks, replay claim, JIT through the user-store's reply, session), against
same-run baselines of the bare cryptography (issue 4, "Measure"). Each protocol runs two passes:
new users, then the same users again with nothing changed ("returning", issue 10: answered from
one user-store read, the last login published without waiting for the reply):

* SAML: a loop of bare XML signature verification of the same responses
  (python3-saml's ``validate_sign``), and of our full response checks without HTTP or JIT;
* OIDC: a loop of bare ID-token verification of equivalent tokens (joserfc ``jwt.decode``);
* both: JIT login events sent straight to the user-store and its replies awaited, at the same
  concurrency (the share of a login that is the user-store's, not sso-login's).

The IdP is pysaml2 (as in the tests); the OpenID provider is the tests' in-process provider
(so the provider's own speed does not count). The stack is Kafka + PostgreSQL from
``roster_testing`` (existing ones via ``ROSTER_TEST_KAFKA`` / ``ROSTER_TEST_DATABASE_URL``, else
started here), all services in this one process; ``--serve`` runs the user-store and sso-login
as their own processes (``roster serve``), as in production; ``--embedded`` uses the in-process
bus and SQLite.

    uv run python bench/sso_logins.py [--logins 400] [--concurrency 16] [--serve | --embedded]
    uv run python bench/sso_logins.py --serve --before ../main/.venv/bin/roster --rounds 3
    uv run python bench/sso_logins.py --serve --before ../main/.venv/bin/roster --tenants 1 4
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from joserfc import jwt  # noqa: E402
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # noqa: E402
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML  # noqa: E402
from roster_shared.bus.base import Bus  # noqa: E402
from roster_shared.tenants import ProvisioningMode  # noqa: E402
from roster_testing.infra import kafka_service, postgres_service  # noqa: E402
from sso_login import saml  # noqa: E402
from user_store.db import create_engine  # noqa: E402

from bench.compare import cpu_seconds  # noqa: E402
from tests.cli.devserver import free_port  # noqa: E402
from tests.integration.harness import memory_bus  # noqa: E402
from tests.sso.rogue_op import RogueOp  # noqa: E402
from tests.sso.stack import SsoStack  # noqa: E402


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99)}


async def _drive(
    count: int, concurrency: int, one: Callable[[int], Awaitable[float]]
) -> tuple[float, list[float]]:
    """Run ``one(i)`` for every i with bounded concurrency; (wall seconds, latencies)."""
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            latencies.append(await one(i))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def _no_cpu() -> float:
    return 0.0


async def _quiet(cpu: Callable[[], float]) -> None:
    """Wait (at most 10 s) until the servers' CPU settles: what a pass leaves running when its
    last answer came — the user-store applying returning logins' records, the outbox relay
    publishing new users' events — is that pass's work, in its CPU and out of the next pass's
    rate (the returning pass used to start while the new-user pass's outbox was still going)."""
    last = cpu()
    for _ in range(50):
        await asyncio.sleep(0.2)
        now = cpu()
        if now - last < 0.02:  # under 10 % of a core
            return
        last = now


def _slugs(slug: str, tenants: int) -> list[str]:
    """One tenant, or ``tenants`` of them: login i goes to tenant i mod n (several partitions of
    the tenant-keyed topics, and the user-store's per-tenant work interleaved)."""
    return [slug] if tenants == 1 else [f"{slug}-t{k}" for k in range(tenants)]


async def bench_saml(
    stack: SsoStack,
    count: int,
    concurrency: int,
    slug: str = "bench-saml",
    cpu: Callable[[], float] = _no_cpu,
    tenants: int = 1,
) -> dict[str, Any]:
    slugs = _slugs(slug, tenants)
    for one_slug in slugs:
        await stack.tenant(one_slug, ProvisioningMode.JIT)
    idp = await stack.saml_idp(*slugs)
    connection = saml.parse_idp_metadata(idp.metadata())
    connection = connection.model_copy(update={"allow_idp_initiated": True})
    for one_slug in slugs:
        await stack.configure(one_slug, {"saml": connection.model_dump(mode="json")})
    sps = [stack.sp(one_slug) for one_slug in slugs]

    def sign(i: int) -> bytes:
        entity_id, acs = sps[i % len(sps)]
        return idp.response_xml(
            sp_entity_id=entity_id,
            acs_url=acs,
            name_id=f"user{i:05d}@example.com",
            in_response_to=None,
            attributes={"mail": [f"user{i:05d}@example.com"], "givenName": [f"U{i}"]},
        )

    responses = [sign(i) for i in range(count)]
    encoded = [base64.b64encode(x).decode() for x in responses]
    # The same people again, nothing changed (fresh responses: assertion ids are single-use).
    again = [base64.b64encode(sign(i)).decode() for i in range(count)]

    # Baseline 1: bare signature verification of the same responses.
    cert = OneLogin_Saml2_Utils.format_cert(connection.signing_certs[0])
    started = time.perf_counter()
    for xml in responses:
        document = OneLogin_Saml2_XML.to_etree(xml)
        if not OneLogin_Saml2_Utils.validate_sign(
            document, cert, xpath=OneLogin_Saml2_Utils.ASSERTION_SIGNATURE_XPATH
        ):
            raise AssertionError("signature did not verify")
    bare_s = time.perf_counter() - started

    # Baseline 2: every SP check of ours (python3-saml strict + the rest), no HTTP, no JIT.
    started = time.perf_counter()
    for i, value in enumerate(encoded):
        saml.validate_response(
            value,
            urls=saml.sp_urls(stack.base, slugs[i % len(slugs)]),
            connection=connection,
            request_id=None,
            skew=timedelta(seconds=90),
            max_bytes=256 * 1024,
        )
    checks_s = time.perf_counter() - started

    browsers = [stack.browser() for _ in range(concurrency)]

    def post(values: list[str]) -> Callable[[int], Awaitable[float]]:
        async def one(i: int) -> float:
            started = time.perf_counter()
            acs = sps[i % len(sps)][1]
            answer = await browsers[i % concurrency].post(acs, data={"SAMLResponse": values[i]})
            if answer.status != 303:
                raise AssertionError(f"login {i}: {answer.status} {await answer.text()}")
            return time.perf_counter() - started

        return one

    cpu_at = cpu()
    wall, latencies = await _drive(count, concurrency, post(encoded))
    await _quiet(cpu)
    cpu_new, cpu_at = cpu() - cpu_at, cpu()
    wall_again, latencies_again = await _drive(count, concurrency, post(again))
    await _quiet(cpu)
    cpu_again = cpu() - cpu_at
    return {
        "server_cpu_ms_per_login": round(cpu_new * 1000 / count, 2),
        "returning_server_cpu_ms_per_login": round(cpu_again * 1000 / count, 2),
        "logins": count,
        "concurrency": concurrency,
        "tenants": tenants,
        "acs_logins_per_second": round(count / wall, 1),
        "acs_latency": _percentiles(latencies),
        "returning_acs_logins_per_second": round(count / wall_again, 1),
        "returning_acs_latency": _percentiles(latencies_again),
        "baseline_bare_signature_verifications_per_second": round(count / bare_s, 1),
        "baseline_sp_checks_per_second": round(count / checks_s, 1),
        "ratio_acs_vs_bare_signature": round(bare_s / wall, 3),
    }


async def bench_oidc(
    stack: SsoStack,
    count: int,
    concurrency: int,
    slug: str = "bench-oidc",
    cpu: Callable[[], float] = _no_cpu,
    tenants: int = 1,
) -> dict[str, Any]:
    op = RogueOp()
    await op.start("roster-bench")
    slugs = _slugs(slug, tenants)
    try:
        oidc = {"issuer": op.issuer, "client_id": "roster-bench", "client_secret": "s"}
        for one_slug in slugs:
            await stack.tenant(one_slug, ProvisioningMode.JIT)
            await stack.configure(one_slug, {"oidc": oidc})
        who: dict[str, int] = {}  # nonce -> login number: the second pass, the same people

        def token(op_: RogueOp, request: dict[str, Any]) -> str:
            n = who.pop(request["nonce"])
            claims = op_.claims(request["nonce"], sub=f"u{n}", email=f"o{n:05d}@example.com")
            return op_.sign(claims)

        op.make_token = token

        # Baseline: bare ID-token verification of equivalent tokens.
        tokens = [op.sign(op.claims(f"n{i}", sub=f"b{i}")) for i in range(count)]
        started = time.perf_counter()
        for value in tokens:
            jwt.decode(value, op.key, algorithms=["RS256"])
        bare_s = time.perf_counter() - started

        # One browser per login in flight: two logins started in one browser at once would
        # overwrite each other's state cookie ("started in another browser").
        browsers: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(concurrency):
            browsers.put_nowait(stack.browser())

        async def one(i: int) -> float:
            browser = await browsers.get()
            try:
                start = await browser.get(f"/sso/{slugs[i % len(slugs)]}/oidc/login")
                nonce = parse_qs(urlsplit(start.headers["Location"]).query)["nonce"][0]
                who[nonce] = i
                at_op = await browser.get(start.headers["Location"])
                started = time.perf_counter()
                answer = await browser.get(at_op.headers["Location"])
                if answer.status != 303:
                    raise AssertionError(f"callback {i}: {answer.status} {await answer.text()}")
                return time.perf_counter() - started
            finally:
                browsers.put_nowait(browser)

        cpu_at = cpu()
        wall, latencies = await _drive(count, concurrency, one)
        await _quiet(cpu)
        cpu_new, cpu_at = cpu() - cpu_at, cpu()
        callbacks_s = sum(latencies) / concurrency  # time spent in callbacks, per worker
        _, latencies_again = await _drive(count, concurrency, one)
        await _quiet(cpu)
        cpu_again = cpu() - cpu_at
        callbacks_again_s = sum(latencies_again) / concurrency
        return {
            # Whole logins (start, provider, callback): sso-login and the user-store together.
            "server_cpu_ms_per_login": round(cpu_new * 1000 / count, 2),
            "returning_server_cpu_ms_per_login": round(cpu_again * 1000 / count, 2),
            "logins": count,
            "concurrency": concurrency,
            "tenants": tenants,
            "callbacks_per_second": round(count / callbacks_s, 1),
            "full_logins_per_second_incl_start_and_provider": round(count / wall, 1),
            "callback_latency": _percentiles(latencies),
            "returning_callbacks_per_second": round(count / callbacks_again_s, 1),
            "returning_callback_latency": _percentiles(latencies_again),
            "baseline_bare_id_token_verifications_per_second": round(count / bare_s, 1),
            "ratio_callbacks_vs_bare_verification": round(bare_s / callbacks_s, 3),
        }
    finally:
        await op.stop()


async def bench_jit(stack: SsoStack, count: int, concurrency: int) -> dict[str, Any]:
    """The user-store's share: JIT login events and their replies, no SSO protocol at all."""
    from tests.integration.harness import login

    tenant = await stack.tenant("bench-jit", ProvisioningMode.JIT)

    async def one(i: int) -> float:
        started = time.perf_counter()
        reply = await stack.send(login(tenant, f"s{i}", f"j{i:05d}@example.com"))
        if not reply.ok:
            raise AssertionError(str(reply.error))
        return time.perf_counter() - started

    wall, latencies = await _drive(count, concurrency, one)
    return {
        "jit_round_trips_per_second": round(count / wall, 1),
        "jit_latency": _percentiles(latencies),
    }


async def run(stack_kind: str, bus: Bus, url: str, count: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stack = SsoStack(bus, create_engine(url), url, Path(tmp))
        await stack.start()
        try:
            return {
                "stack": stack_kind,
                "saml": await bench_saml(stack, count, concurrency),
                "oidc": await bench_oidc(stack, count, concurrency),
                "baseline_user_store_jit": await bench_jit(stack, count, concurrency),
            }
        finally:
            await stack.stop()


class ServedStack(SsoStack):
    """Like the tests' stack, but the user-store and sso-login each run in their own process
    (``roster serve``), as in production; this process only drives them."""

    def __init__(
        self, bus: Bus, url: str, bootstrap: str, tmp: Path, roster: Path | None = None
    ) -> None:
        super().__init__(bus, create_engine(url), url, tmp)
        self.bootstrap = bootstrap
        self.roster = roster or Path(sys.executable).with_name("roster")
        self.processes: list[subprocess.Popen[bytes]] = []

    def _serve(self, service: str, env: dict[str, str], port: int) -> str:
        log = (self.tmp / f"{service}-{port}.log").open("wb")
        process = subprocess.Popen(
            [str(self.roster), "serve", service],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")},
                **env,
                "ROSTER_PORT": str(port),
                "ROSTER_LOG_LEVEL": "WARNING",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url + "/readyz", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return url
            if process.poll() is not None:
                raise RuntimeError((self.tmp / f"{service}-{port}.log").read_text())
            time.sleep(0.2)
        raise RuntimeError(f"{service} did not start")

    async def start(self) -> None:
        await self.bus.start()
        await self.bus.ensure_topics(self.topics.specs(2))
        # The schema is the served user-store's own (it migrates on start): with --before, the
        # before arm's code may not know this checkout's newest migration.
        common = {
            "ROSTER_KAFKA_BOOTSTRAP": self.bootstrap,
            "ROSTER_TOPIC_PREFIX": self.topics.prefix,
            "ROSTER_INTERNAL_TOKEN": "internal",
        }
        store = self._serve(
            "user-store",
            {
                **common,
                "ROSTER_DATABASE_URL": self.database_url,
                "ROSTER_ADMIN_TOKEN": "admin",
                "ROSTER_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
            },
            free_port(),
        )
        # sso-login is a process of its own here: it binds the port the stack reserved, so the
        # reservation is released just before (the tests' in-process stack serves that socket).
        self._socket.close()
        self._serve(
            "sso-login",
            {
                **common,
                "ROSTER_USER_STORE_URL": store,
                "ROSTER_SESSION_SECRET": "s" * 32,
                "ROSTER_PUBLIC_URL": self.base,
            },
            self.port,
        )
        await self.requester.start()

    async def stop(self) -> None:
        for client in self._clients:
            await client.close()
        await self.requester.stop()
        for process in self.processes:
            process.terminate()
            process.wait(30)
        await self.bus.stop()
        await self.engine.dispose()


async def served(count: int, concurrency: int) -> dict[str, Any]:
    from roster_shared.bus.kafka import KafkaBus

    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}", file=sys.stderr)
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        with tempfile.TemporaryDirectory() as tmp:
            bus = KafkaBus(kafka.bootstrap, client_id="bench-sso")
            stack = ServedStack(bus, url, kafka.bootstrap, Path(tmp))
            await stack.start()
            try:
                return {
                    "stack": "kafka+postgresql, user-store and sso-login in their own processes",
                    "saml": await bench_saml(stack, count, concurrency),
                    "oidc": await bench_oidc(stack, count, concurrency),
                    "baseline_user_store_jit": await bench_jit(stack, count, concurrency),
                }
            finally:
                await stack.stop()


KEYS = {
    "saml new": ("saml", "acs_logins_per_second", "acs_latency", "server_cpu_ms_per_login"),
    "saml returning": (
        "saml",
        "returning_acs_logins_per_second",
        "returning_acs_latency",
        "returning_server_cpu_ms_per_login",
    ),
    "oidc new": ("oidc", "callbacks_per_second", "callback_latency", "server_cpu_ms_per_login"),
    "oidc returning": (
        "oidc",
        "returning_callbacks_per_second",
        "returning_callback_latency",
        "returning_server_cpu_ms_per_login",
    ),
}


async def before_after(
    count: int, concurrency: int, before: Path, rounds: int, tenants: tuple[int, ...] = (1,)
) -> dict[str, Any]:
    """``--serve`` for this checkout and for ``before`` (another checkout's ``roster``), each on
    its own database and topics, the arms interleaved (alternating which goes first) per
    protocol, tenant count and round; medians per arm. With several ``tenants`` counts each is
    its own set of rows (``saml x4``: the logins spread over 4 tenants)."""
    from roster_shared.bus.kafka import KafkaBus

    arms = {"after": Path(sys.executable).with_name("roster"), "before": before}
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    with (
        kafka_service(quick_start=False) as kafka,
        postgres_service() as pg,
        tempfile.TemporaryDirectory() as tmp,
    ):
        stacks = {}
        try:
            for arm, roster in arms.items():
                url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
                bus = KafkaBus(kafka.bootstrap, client_id=f"bench-sso-{arm}")
                (Path(tmp) / arm).mkdir()
                stacks[arm] = ServedStack(bus, url, kafka.bootstrap, Path(tmp) / arm, roster)
                await stacks[arm].start()
            for round_no in range(rounds):
                order = list(arms) if round_no % 2 == 0 else list(reversed(arms))
                outcome: dict[str, dict[str, Any]] = {arm: {} for arm in arms}
                for n, (protocol, bench) in itertools.product(
                    tenants, (("saml", bench_saml), ("oidc", bench_oidc))
                ):
                    key = protocol if n == 1 else f"{protocol} x{n}"
                    for arm in order:
                        slug = f"bench-{protocol}-{n}-{round_no}"
                        pids = [p.pid for p in stacks[arm].processes]
                        result = await bench(
                            stacks[arm], count, concurrency, slug, partial(cpu_seconds, pids), n
                        )
                        outcome[arm][key] = result
                        print(f"round {round_no} {arm} {key}: {result}", flush=True)
                for arm in arms:
                    runs[arm].append(outcome[arm])
        finally:
            for stack in stacks.values():
                await stack.stop()
    head = "/s | p50 ms | p99 ms | server CPU ms/login"
    lines = [
        f"| conc {concurrency} | after {head} | before {head} | after ÷ before /s | CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    medians: dict[str, float] = {}
    rows = [
        (f"{row} x{n}" if n > 1 else row, (protocol if n == 1 else f"{protocol} x{n}", *keys))
        for n in tenants
        for row, (protocol, *keys) in KEYS.items()
    ]
    for row, (protocol, rate, latency, cpu) in rows:
        cells = []
        for arm in arms:
            cells += [
                statistics.median(r[protocol][rate] for r in runs[arm]),
                statistics.median(r[protocol][latency]["p50_ms"] for r in runs[arm]),
                statistics.median(r[protocol][latency]["p99_ms"] for r in runs[arm]),
                statistics.median(r[protocol][cpu] for r in runs[arm]),
            ]
            medians[f"{arm} {row}"] = cells[-4]
        ratios = f"{cells[0] / cells[4]:.2f} | {cells[3] / cells[7]:.2f}"
        lines.append(f"| {row} | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {ratios} |")
    return {
        "stack": "kafka+postgresql, --serve, this checkout (after) beside --before",
        "machine": f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end",
        "rounds": runs,
        "medians": medians,
        "table": "\n".join(lines),
    }


async def main(count: int, concurrency: int, embedded: bool) -> dict[str, Any]:
    if embedded:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/roster.db"
            return await run("memory+sqlite", memory_bus(), url, count, concurrency)
    from roster_shared.bus.kafka import KafkaBus

    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}", file=sys.stderr)
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        bus = KafkaBus(kafka.bootstrap, client_id="bench-sso")
        return await run("kafka+postgresql", bus, url, count, concurrency)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--embedded", action="store_true", help="in-process bus and SQLite")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="user-store and sso-login as separate processes (roster serve), as in production",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="with --serve: the `roster` executable of another checkout (e.g. main's "
        ".venv/bin/roster), served beside this one and interleaved: a before/after table",
    )
    parser.add_argument("--rounds", type=int, default=1, help="with --before: repeat, medians")
    parser.add_argument(
        "--tenants",
        type=int,
        nargs="+",
        default=[1],
        help="with --before: spread each pass's logins over this many tenants; several "
        "counts (e.g. 1 4) give a set of rows each",
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.serve and args.before:
            outcome = asyncio.run(
                before_after(
                    args.logins, args.concurrency, args.before, args.rounds, tuple(args.tenants)
                )
            )
        elif args.serve:
            outcome = asyncio.run(served(args.logins, args.concurrency))
        else:
            outcome = asyncio.run(main(args.logins, args.concurrency, args.embedded))
        text = json.dumps(outcome, indent=2)
        print(text)
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / f"sso_logins-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text + "\n")
        if "table" in outcome:
            print(f"{outcome['table']}\n{outcome['machine']}")
