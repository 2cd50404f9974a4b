"""Where the tests' Kafka broker and PostgreSQL server come from, in one place.

For each of them, in order:

1. an environment variable naming an existing server (``ROSTER_TEST_KAFKA`` with bootstrap
   servers, ``ROSTER_TEST_DATABASE_URL`` with a PostgreSQL URL) - for CI services, a
   developer's own server or a benchmark harness that already started one;
2. testcontainers, when a Docker engine answers - the usual choice on laptops;
3. local launchers (:mod:`roster_testing.kafka`, :mod:`roster_testing.postgres`) - for
   machines without Docker, such as this project's CI.

Either way the caller gets a running server and a one-line description of what it is, so test
output can say what the tests ran against. ``ROSTER_TEST_DOCKER=0`` skips the Docker probe.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from roster_testing._util import cache_dir
from roster_testing.postgres import (
    LocalPostgres,
    create_database,
    database_name,
    normalize_database_url,
)

KAFKA_ENV = "ROSTER_TEST_KAFKA"
DATABASE_ENV = "ROSTER_TEST_DATABASE_URL"
DOCKER_ENV = "ROSTER_TEST_DOCKER"
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
POSTGRES_IMAGE = "postgres:15"


def _report_line(description: str, source: str, seconds: float) -> str:
    return description if source == "env" else f"{description} (ready in {seconds:.1f} s)"


@dataclass(frozen=True)
class KafkaService:
    """A reachable Kafka cluster."""

    bootstrap: str
    description: str
    source: str  # "env", "docker" or "local"
    startup_seconds: float = 0.0

    @property
    def report_line(self) -> str:
        """The description plus how long startup took (when we started it)."""
        return _report_line(self.description, self.source, self.startup_seconds)


@dataclass(frozen=True)
class PostgresService:
    """A reachable PostgreSQL server; ``url`` is an SQLAlchemy asyncpg URL."""

    url: str
    description: str
    source: str  # "env", "docker" or "local"
    startup_seconds: float = 0.0

    @property
    def report_line(self) -> str:
        """The description plus how long startup took (when we started it)."""
        return _report_line(self.description, self.source, self.startup_seconds)

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` on this server and return its URL."""
        return create_database(self.url, name)


def kafka_cache_dir() -> Path:
    """Where the Kafka jars are cached: ``<cache>/kafka``."""
    return cache_dir() / "kafka"


@cache
def docker_available() -> bool:
    """True when a Docker engine answers a ping (decided once per process).

    docker-py only looks at ``$DOCKER_HOST`` or ``/var/run/docker.sock``, so when neither
    exists we answer at once. Otherwise the ping fails fast when nothing listens; its leaked
    socket's ResourceWarning is silenced here, because ``filterwarnings = error`` would
    otherwise turn it into a test error somewhere unrelated.
    """
    if os.environ.get(DOCKER_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker
            from docker.errors import DockerException

            try:
                client = docker.from_env(timeout=5)
                try:
                    return bool(client.ping())
                finally:
                    client.close()
            except DockerException:
                return False
        except ImportError:
            return False
        finally:
            gc.collect()


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}/{database_name(url)}"


@contextlib.contextmanager
def kafka_service(*, quick_start: bool = True) -> Iterator[KafkaService]:
    """Yield a running Kafka (env, container or local broker), stopping it afterwards.

    ``quick_start`` tunes a local broker's JVM for fast startup over peak throughput (see
    :data:`roster_testing.kafka.QUICK_START_OPTIONS`); benchmarks pass False.
    """
    started = time.monotonic()
    external = os.environ.get(KAFKA_ENV, "").strip()
    if external:
        yield KafkaService(external, f"Kafka at {external} (from ${KAFKA_ENV})", "env")
        return
    if docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            yield KafkaService(
                bootstrap,
                f"Kafka (testcontainers {KAFKA_IMAGE}, KRaft) at {bootstrap}",
                "docker",
                time.monotonic() - started,
            )
        return
    from roster_testing.kafka import LocalKafka, ensure_kafka_classpath

    classpath = ensure_kafka_classpath(kafka_cache_dir())
    with LocalKafka(classpath, quick_start=quick_start) as broker:
        yield KafkaService(
            broker.bootstrap, broker.description, "local", time.monotonic() - started
        )


@contextlib.contextmanager
def postgres_service() -> Iterator[PostgresService]:
    """Yield a running PostgreSQL (env, container or local cluster), stopping it afterwards."""
    started = time.monotonic()
    external = os.environ.get(DATABASE_ENV, "").strip()
    if external:
        url = normalize_database_url(external)
        yield PostgresService(url, f"PostgreSQL at {_host_port(url)} (from ${DATABASE_ENV})", "env")
        return
    if docker_available():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, dbname="roster", driver="asyncpg") as container:
            url = normalize_database_url(container.get_connection_url())
            yield PostgresService(
                url,
                f"PostgreSQL (testcontainers {POSTGRES_IMAGE}) at {_host_port(url)}",
                "docker",
                time.monotonic() - started,
            )
        return
    with LocalPostgres() as cluster:
        yield PostgresService(cluster.url, cluster.description, "local", time.monotonic() - started)
