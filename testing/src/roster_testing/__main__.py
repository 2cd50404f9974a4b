"""Command line: ``python -m roster_testing {up,fetch}``.

``up`` starts a broker and a database the same way the tests do and prints them as
``ROSTER_TEST_KAFKA=...`` / ``ROSTER_TEST_DATABASE_URL=...`` lines on stdout (descriptions go
to stderr), then holds them until Ctrl-C or SIGTERM. Benchmarks and manual runs use it; a test
run started with those variables set reuses the servers instead of starting its own.

``fetch`` only downloads the Kafka jars into the cache, so CI can prefetch them in a step of
its own.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from roster_testing.infra import (
    DATABASE_ENV,
    KAFKA_ENV,
    kafka_cache_dir,
    kafka_service,
    postgres_service,
)


def _fetch() -> int:
    from roster_testing.kafka import KAFKA_VERSION, ensure_kafka_classpath

    started = time.monotonic()
    classpath = ensure_kafka_classpath(kafka_cache_dir())
    jars = len(classpath.split(os.pathsep))
    print(
        f"Kafka {KAFKA_VERSION}: {jars} jars in {kafka_cache_dir() / 'lib'} "
        f"({time.monotonic() - started:.1f} s)",
        file=sys.stderr,
    )
    return 0


def _up(want_kafka: bool, want_postgres: bool, quick: bool) -> int:
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    with contextlib.ExitStack() as stack:
        if want_kafka:
            kafka = stack.enter_context(kafka_service(quick_start=quick))
            print(kafka.report_line, file=sys.stderr)
            print(f"{KAFKA_ENV}={kafka.bootstrap}", flush=True)
        if want_postgres:
            postgres = stack.enter_context(postgres_service())
            print(postgres.report_line, file=sys.stderr)
            print(f"{DATABASE_ENV}={postgres.url}", flush=True)
        print("ready; Ctrl-C or SIGTERM stops them", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            pass
        print("stopping...", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m roster_testing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Kafka and PostgreSQL until interrupted")
    up.add_argument("--no-kafka", action="store_true", help="do not start Kafka")
    up.add_argument("--no-postgres", action="store_true", help="do not start PostgreSQL")
    up.add_argument(
        "--quick-start",
        action="store_true",
        help="tune the local broker's JVM for startup time (as tests do), not throughput",
    )
    sub.add_parser("fetch", help="download the Kafka broker jars into the cache")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("roster_testing").setLevel(logging.INFO)
    if args.command == "fetch":
        return _fetch()
    return _up(not args.no_kafka, not args.no_postgres, args.quick_start)


if __name__ == "__main__":
    sys.exit(main())
