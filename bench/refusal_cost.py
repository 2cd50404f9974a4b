"""Probe: scim-api's CPU per refusal by load shedding (issue 12), on Kafka + PostgreSQL.

scim-api runs as a ``roster serve`` process with a bound of one request in flight; a closed
loop of ``--clients`` keep-alive connections (bench/raw_http.py), or an open loop at ``--rate``
(bench/overload.py's), sends SCIM creates, so nearly every answer is the early refusal (503
before routing). Prints scim-api's CPU milliseconds per
answer over ``--seconds``, and with ``--profile FILE`` records scim-api with py-spy meanwhile.

    uv run python bench/refusal_cost.py [--seconds 10] [--clients 64] [--profile out.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from overload import SHIPPED, Outcomes, _client, _closed, _cpu_seconds, _fresh, _open
from roster_testing.faults.scenarios import Servers, stack
from roster_testing.infra import kafka_cache_dir
from roster_testing.kafka import LocalKafka, ensure_kafka_classpath
from roster_testing.postgres import LocalPostgres


def _scim_pid() -> int:
    out = subprocess.run(["pgrep", "-f", "serve scim-api"], capture_output=True, text=True)
    return int(out.stdout.split()[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--rate", type=float, default=0, help="an open loop at this rate instead (requests/s)"
    )
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument(
        "--event-loop", choices=("uvloop", "asyncio"), default="uvloop", help="scim-api's loop"
    )
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="roster-refusal-"))
    classpath = ensure_kafka_classpath(kafka_cache_dir())
    with LocalKafka(classpath, quick_start=False) as kafka, LocalPostgres() as postgres:
        servers = Servers(kafka.bootstrap, postgres.server_url, kafka, postgres)
        env = {**SHIPPED, "ROSTER_MAX_IN_FLIGHT": "1", "ROSTER_EVENT_LOOP": args.event_loop}
        async with (
            stack(servers, logs, env) as (base, tenants, _database, _store),
            _client(base, tenants) as (sender, _http),
        ):
            await _closed(3, 8, *_fresh(sender))
            spy = None
            if args.profile:
                pid = await asyncio.to_thread(_scim_pid)
                spy = await asyncio.create_subprocess_exec(
                    *("py-spy", "record", "-p", str(pid), "-f", "raw", "-o", str(args.profile)),
                    *("-d", str(int(args.seconds)), "-r", "200"),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            outcomes = Outcomes()
            before = _cpu_seconds()
            if args.rate:
                await _open(args.seconds, args.rate, sender(outcomes), outcomes)
            else:
                await _closed(args.seconds, args.clients, sender(outcomes), outcomes)
            after = _cpu_seconds()
            if spy:
                await spy.wait()
        cpu = {k: round(after[k] - before.get(k, 0.0), 2) for k in after}
        answers = len(outcomes.ok) + outcomes.shed
        print(
            json.dumps(
                {
                    "answers_per_s": round(answers / args.seconds),
                    "created": len(outcomes.ok),
                    "shed": outcomes.shed,
                    "cpu_s": cpu,
                    "scim_api_ms_per_answer": round(
                        1000 * cpu.get("scim-api", 0) / max(1, answers), 3
                    ),
                    "generator_ms_per_answer": round(1000 * cpu["generator"] / max(1, answers), 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main())
