"""Fault run: every scenario of ``roster_testing.faults`` on Kafka + PostgreSQL, one table.

A private broker and PostgreSQL are started here (the run kills them); the services run as
``roster serve`` processes. Each scenario gets its own database, topics and consumer group,
drives an IdP-like load with retries, injects its fault mid-load and checks every SCIM request
the IdP made against PostgreSQL, ``roster.lifecycle`` and ``roster.users`` (see
``roster_testing/faults/check.py`` for what each column means). Exit status 1 if any fails.

    uv run python bench/faults.py [--seconds 30] [--fault-at 8] [--workers 8] [--only kill-store]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from roster_testing.faults.scenarios import SCENARIOS, Result, Servers, run
from roster_testing.infra import kafka_cache_dir
from roster_testing.kafka import LocalKafka, ensure_kafka_classpath
from roster_testing.postgres import LocalPostgres

HEADER = (
    "| scenario | acked | failed | indeterminate | stored | lost | unexpected | duplicates "
    "| lifecycle / snapshot mismatch | recovered in | slowest ack | result | acked by kind |"
)

KINDS = ("create", "rename", "replace", "join", "leave", "deactivate", "delete")


def row(result: Result) -> str:
    v = result.verdict
    kinds: dict[str, int] = {}
    for op in result.ops:
        if op.outcome == "acknowledged":
            kinds[op.kind] = kinds.get(op.kind, 0) + 1
    recover = "never" if result.recover_s is None else f"{result.recover_s:.1f} s"
    extra = f", {result.dead_letters} dead letters" if result.scenario.fault == "poison" else ""
    return (
        f"| {result.scenario.name} | {v.acknowledged} | {v.failed} | {v.indeterminate} "
        f"| {v.stored} | {v.lost} | {v.unexpected} | {v.duplicates} "
        f"| {v.lifecycle_mismatch} / {v.snapshot_mismatch} | {recover} "
        f"| {result.slowest_ack_s:.1f} s | {'pass' if result.ok else 'FAIL'}{extra} "
        f"| {' / '.join(str(kinds.get(k, 0)) for k in KINDS)} |"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fault-at", type=float, default=8)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--only", action="append", help="a scenario's fault name (repeatable)")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or s.fault in args.only]
    logs = Path(tempfile.mkdtemp(prefix="roster-faults-"))
    print(f"logs in {logs}; load average {os.getloadavg()[0]:.1f}", flush=True)
    classpath = ensure_kafka_classpath(kafka_cache_dir())
    results = []
    with (
        LocalKafka(classpath, quick_start=False) as kafka,
        LocalPostgres(durable_commits=True) as postgres,
    ):
        servers = Servers(kafka.bootstrap, postgres.server_url, kafka, postgres)
        for scenario in chosen:
            result = await run(
                scenario,
                servers,
                logs / scenario.fault,
                seconds=args.seconds,
                fault_at=args.fault_at,
                workers=args.workers,
            )
            results.append(result)
            print(row(result), *result.notes, *result.verdict.examples, sep="\n  ", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f}\n\n{HEADER}")
    print("|" + "---|" * 13)
    for result in results:
        print(row(result))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
