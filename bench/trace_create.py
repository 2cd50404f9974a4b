"""Where the time of one SCIM create goes, at concurrency 1 (issue 10): a timeline per create.

With ``--before`` another checkout's stack runs beside this one and the creates alternate
between them, one at a time, so both see the same load on a shared machine.

Starts the user-store and the scim-api as ``roster serve`` processes (as ``bench/compare.py``
does, on the tests' broker and database), POSTs ``--creates`` users one after the other, then
joins what each create left behind by its event id:

* ``t0`` the client sends the POST, ``t4`` it has the 201 (this process's clock);
* ``t1`` the ingestion record's timestamp (set by the scim-api's producer when it sent it: the
  request parsed, the token checked — as the reader role, as ``bench/compare.py`` serves it,
  or with ``--http`` over HTTP at the user-store — the event built);
* ``t2`` ``processed_events.processed_at`` (the user-store's clock when it finished applying the
  event, before its batch wrote and committed);
* ``t3`` the reply record's timestamp (the user-store sent it: the batch has committed).

So ``t1-t0`` is the scim-api before the send, ``t2-t1`` the hop to the user-store plus its fetch
and the apply, ``t3-t2`` the batch's writes and commit, ``t4-t3`` the reply's acknowledgement,
the scim-api's reply fetch and the HTTP response. Kafka timestamps are whole milliseconds.

Also the CPU of each process (user-store, scim-api; ``/proc``): per second over ``--idle``
seconds with no request (their Kafka fetch loops and polls), and per create over the creates.

    uv run python bench/trace_create.py [--creates 200] [--before PATH] [--http] [--profile DIR]
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
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from roster_shared.bus.kafka import KafkaBus
from roster_shared.topics import Topics
from roster_testing.infra import kafka_service, postgres_service

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import scim_provisioning
from scim_provisioning import Processes, user_body

STAGES = (
    ("scim-api until sent", "t0", "t1"),
    ("to user-store, fetched, applied", "t1", "t2"),
    ("batch written + committed", "t2", "t3"),
    ("reply acked, fetched, answered", "t3", "t4"),
    ("total", "t0", "t4"),
)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def since(now: list[float], was: list[float]) -> list[float]:
    return [a - b for a, b in zip(now, was, strict=True)]


class Arm:
    """One Roster stack under trace: its processes, topics, database and the client's times."""

    def __init__(self, name: str, roster: Path, *, reader: bool = True) -> None:
        self.name, self.roster, self.reader = name, roster, reader
        self.prefix = f"trc{uuid.uuid4().hex[:6]}."
        self.client: dict[str, tuple[float, float]] = {}
        self.cpu_figures: dict[str, Any] = {}

    async def start(self, bootstrap: str, pg: Any) -> None:
        self.url = pg.create_database(f"trace_{uuid.uuid4().hex[:8]}")
        _, self.token = await compare._tenant(self.url)
        self.stack = Processes(bootstrap, self.url, secrets.token_urlsafe(16), self.prefix)
        if self.reader:
            # As bench/compare.py serves it: the write's token check read as the reader role.
            self.stack.scim_env = {
                "ROSTER_READER_DATABASE_URL": await compare._reader_url(self.url)
            }
        saved, scim_provisioning.ROSTER = scim_provisioning.ROSTER, self.roster
        try:
            self.base = await self.stack.start()
        finally:
            scim_provisioning.ROSTER = saved

    def cpu(self) -> list[float]:
        """CPU seconds so far of each process of the stack (user-store, scim-api)."""
        return [process_cpu(process.pid) for process in self.stack.processes]

    async def create(self, http: aiohttp.ClientSession, i: int, *, keep: bool) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}
        body = user_body("trace", i)
        t0 = time.time()
        async with http.post(
            f"{self.base}/scim/v2/bench/Users", json=body, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            await response.read()
        if keep:
            self.client[body["userName"]] = (t0, time.time())

    async def timeline(self, bootstrap: str) -> dict[str, Any]:
        topics = Topics(self.prefix)
        bus = KafkaBus(bootstrap, client_id="trace")
        await bus.start()
        try:
            ingest = await bus.read(topics.ingest, limit=100_000)
            replies = await bus.read(topics.replies, limit=100_000)
        finally:
            await bus.stop()
        sent: dict[str, tuple[str, float]] = {}
        for message in ingest:
            event = json.loads(message.value or b"{}")
            user_name = event.get("data", {}).get("attributes", {}).get("user_name")
            sent[event["event_id"]] = (user_name, message.timestamp_ms / 1000)
        replied = {m.key: m.timestamp_ms / 1000 for m in replies}
        conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            processed = {
                r["event_id"]: r["processed_at"].timestamp()
                for r in await conn.fetch("SELECT event_id, processed_at FROM processed_events")
            }
        finally:
            await conn.close()
        rows = []
        for event_id, (user_name, t1) in sent.items():
            if user_name not in self.client or event_id not in processed or event_id not in replied:
                continue
            t0, t4 = self.client[user_name]
            t2, t3 = processed[event_id], replied[event_id]
            rows.append({"t0": t0, "t1": t1, "t2": t2, "t3": t3, "t4": t4})
        out: dict[str, Any] = {"creates": len(rows)}
        for name, a, b in STAGES:
            spans = sorted((r[b] - r[a]) * 1000 for r in rows)
            out[name] = {
                "p50_ms": round(statistics.median(spans), 2),
                "mean_ms": round(statistics.fmean(spans), 2),
                "p90_ms": round(spans[int(len(spans) * 0.9)], 2),
            }
        return out


async def _spies(
    arms: list[Arm], directory: Path | None, round_no: int
) -> list[asyncio.subprocess.Process]:
    """py-spy recording every process of every arm (``DIR/<arm>-<process>-<round>.txt``, raw;
    summarise with ``bench/profile_summary.py``), or none without ``--profile``."""
    if directory is None:
        return []
    spies = []
    for arm in arms:
        for name, process in zip(("user-store", "scim-api"), arm.stack.processes, strict=True):
            out = directory / f"{arm.name}-{name}-{round_no}.txt"
            spies.append(
                await asyncio.create_subprocess_exec(
                    *("py-spy", "record", "-p", str(process.pid), "-f", "raw", "-r", "200"),
                    *("--nonblocking", "-o", str(out)),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    await asyncio.sleep(1)  # attached before the first timed create
    return spies


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        results: dict[str, Any] = {}
        for round_no in range(args.rounds):
            arms = [Arm("this", scim_provisioning.ROSTER, reader=not args.http)]
            if args.before is not None:
                arms.append(Arm("before", args.before, reader=not args.http))
            for arm in arms:
                await arm.start(kafka.bootstrap, pg)
            try:
                async with aiohttp.ClientSession() as http:
                    for arm in arms:  # warm-up, not counted
                        for i in range(5):
                            await arm.create(http, i, keep=False)
                    # Idle: nothing but the processes' own loops (Kafka fetches, polls).
                    idle = [arm.cpu() for arm in arms]
                    await asyncio.sleep(args.idle)
                    idle = [since(arm.cpu(), was) for arm, was in zip(arms, idle, strict=True)]
                    spies = await _spies(arms, args.profile, round_no)
                    busy = [arm.cpu() for arm in arms]
                    # Interleaved, one create at a time: both arms see the same machine load.
                    for i in range(5, args.creates + 5):
                        for arm in arms:
                            await arm.create(http, i, keep=True)
                    busy = [since(arm.cpu(), was) for arm, was in zip(arms, busy, strict=True)]
                    for spy in spies:
                        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                        await spy.wait()
                for arm, quiet, spent in zip(arms, idle, busy, strict=True):
                    arm.cpu_figures = {
                        "idle_cpu_ms_per_s": [round(c * 1000 / args.idle, 1) for c in quiet],
                        "cpu_ms_per_create": [round(c * 1000 / args.creates, 2) for c in spent],
                        "load": round(os.getloadavg()[0], 1),
                    }
            finally:
                for arm in arms:
                    await arm.stack.stop()
            for arm in arms:
                timeline = {**await arm.timeline(kafka.bootstrap), **arm.cpu_figures}
                results.setdefault(arm.name, []).append(timeline)
                print(f"round {round_no} {arm.name}: {json.dumps(results[arm.name][-1])}")
        return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument("--before", type=Path, help="another checkout's `roster`, traced beside")
    parser.add_argument(
        "--profile", type=Path, help="record each process with py-spy during the creates, into DIR"
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="no reader URL: the scim-api checks a write's token over HTTP at the user-store",
    )
    arguments = parser.parse_args()
    if arguments.profile:
        arguments.profile.mkdir(parents=True, exist_ok=True)
    outcome = asyncio.run(main(arguments))
    for name, runs in outcome.items():
        print(f"== {name}")
        for stage, _, _ in STAGES:
            cells = ", ".join(f"{run[stage]['p50_ms']:.1f}" for run in runs)
            print(f"{stage:38s} p50 ms per round: {cells}")
        for figure in ("idle_cpu_ms_per_s", "cpu_ms_per_create"):
            cells = ", ".join(str(run[figure]) for run in runs)
            print(f"{figure} (user-store, scim-api) per round: {cells}")
