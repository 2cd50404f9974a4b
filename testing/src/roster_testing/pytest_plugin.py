"""pytest fixtures for a real Kafka broker and a real PostgreSQL server.

Loaded for the whole workspace by ``-p roster_testing.pytest_plugin`` in the root pyproject's
``addopts``: ``tests/conftest.py`` names it too, but pytest only reads that conftest for paths
under ``tests/``, and ``pytest testing/tests`` (or any other member's tests) needs the fixtures
as well. Naming it twice is harmless: pytest registers a plugin module once.

* ``kafka_bootstrap`` (session): bootstrap servers string of a running broker.
* ``postgres_url`` (session): ``postgresql+asyncpg://`` URL of the ``roster`` database.
* ``fresh_database_url`` (function): URL of a new, empty database for one test, dropped after.
* ``roster_kafka`` / ``roster_postgres`` (session): the underlying service objects, with
  ``.description`` and, for PostgreSQL, ``.create_database(name)``.

Servers start lazily, the first time a test asks for them, so a run of pure unit tests pays
nothing; they stop at the end of the session. Where they come from is decided by
:mod:`roster_testing.infra`. The run's output names the broker and the database that were used,
both when they start and in the terminal summary.

Every test that takes a server is marked ``integration`` at collection (see
:func:`needs_servers`), so ``pytest -m "not integration"`` runs with no broker and no database;
the fast loop, ``-m "not integration and not slow"``, also leaves out the tests marked ``slow``
by hand (processes, long properties). A run that selected no integration test refuses to start a
server, so a test that reaches one without being recognised fails loudly instead of slowing the
loop down; mark such a test ``@pytest.mark.integration`` by hand.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator

import pytest

from roster_testing._util import run_coroutine_sync
from roster_testing.infra import (
    DATABASE_ENV,
    KAFKA_ENV,
    KafkaService,
    PostgresService,
    kafka_service,
    postgres_service,
)
from roster_testing.postgres import database_name, drop_database
from roster_testing.topics import delete_topics_under, take_prefixes

_STARTED = pytest.StashKey[list[str]]()
_BOOTSTRAP = pytest.StashKey[str]()
"""The session broker's bootstrap, once a test asked for it: where test topics are deleted."""
_SERVERS_ALLOWED = pytest.StashKey[bool]()

INTEGRATION = "integration"
#: The fixtures that start (or connect to) a server; asking for any of them makes a test
#: an integration test, also through another fixture that depends on it.
SERVER_FIXTURES = frozenset(
    {"roster_kafka", "roster_postgres", "kafka_bootstrap", "postgres_url", "fresh_database_url"}
)
#: The words of a pairing ("memory-sqlite", "kafka-postgres", "postgresql", and
#: "kafka-postgres-reader": the scim-api reading as the reader role) that a fixture is
#: parametrized over or a contract suite names in ``bus_kind`` / ``db_kind``; the stacks ask for
#: the server fixtures with ``request.getfixturevalue``, which collection cannot see.
PAIRING_WORDS = frozenset({"memory", "sqlite", "kafka", "postgres", "postgresql", "reader"})
SERVER_WORDS = frozenset({"kafka", "postgres", "postgresql"})
PAIRING_ATTRIBUTES = ("bus_kind", "db_kind")


def _names_servers(value: object) -> bool:
    """Whether ``value`` is a pairing name (only pairing words) with a server in it."""
    if not isinstance(value, str):
        return False
    words = set(value.lower().split("-"))
    return words <= PAIRING_WORDS and bool(words & SERVER_WORDS)


def needs_servers(item: pytest.Item) -> bool:
    """Whether ``item`` takes a broker or a database: it asks for a server fixture, or runs on a
    pairing with one (a fixture parameter, or a suite class's ``bus_kind`` / ``db_kind``)."""
    if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(_names_servers(v) for v in callspec.params.values()):
        return True
    cls = getattr(item, "cls", None)
    return cls is not None and any(
        _names_servers(getattr(cls, a, None)) for a in PAIRING_ATTRIBUTES
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``integration`` marker; prepare the list of servers used, for the summary."""
    config.addinivalue_line(
        "markers",
        f"{INTEGRATION}: takes a Kafka broker or a PostgreSQL server (set by roster_testing for "
        "the tests that ask for one); deselect with -m 'not integration' to run without servers",
    )
    config.stash[_STARTED] = []
    config.stash[_SERVERS_ALLOWED] = True


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark the tests that take a server, before ``-m`` selects."""
    if item.get_closest_marker(INTEGRATION) is None and needs_servers(item):
        item.add_marker(INTEGRATION)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Allow servers only if the run selected a test that is meant to take one."""
    session.config.stash[_SERVERS_ALLOWED] = any(
        item.get_closest_marker(INTEGRATION) is not None for item in session.items
    )


def _refuse_unless_allowed(config: pytest.Config, server: str) -> None:
    if not config.stash.get(_SERVERS_ALLOWED, True):
        pytest.fail(
            f"a test asked for {server}, but this run selected no {INTEGRATION} test: mark the "
            f"test @pytest.mark.{INTEGRATION} (roster_testing did not see it take a server)",
            pytrace=False,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say up front where the broker and the database will come from."""
    kafka = os.environ.get(KAFKA_ENV)
    database = os.environ.get(DATABASE_ENV)
    on_demand = "started on first use (testcontainers if Docker answers, else local)"
    return [
        f"roster-testing: Kafka {'from $' + KAFKA_ENV if kafka else on_demand}",
        f"roster-testing: PostgreSQL {'from $' + DATABASE_ENV if database else on_demand}",
    ]


def _announce(config: pytest.Config, line: str) -> None:
    """Print ``line`` now (even under output capture) and keep it for the summary."""
    config.stash[_STARTED].append(line)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    # Fixture setup runs under output capture, which would swallow the line: lift it briefly.
    capture = config.pluginmanager.get_plugin("capturemanager")
    suspended = (
        capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    )
    with suspended:
        # In -q mode the progress dots leave the cursor mid-line, which ensure_newline()
        # does not notice (it tracks file headers only), so check the writer's column too.
        reporter.ensure_newline()
        writer = getattr(reporter, "_tw", None)
        if writer is not None and getattr(writer, "width_of_current_line", False):
            reporter.write("\n")
        reporter.write_line(f"roster-testing: {line}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the broker and database the session started (or was pointed at)."""
    lines = terminalreporter.config.stash.get(_STARTED, [])
    if lines:
        terminalreporter.write_sep("-", "roster test infrastructure")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def roster_kafka(pytestconfig: pytest.Config) -> Iterator[KafkaService]:
    """The session's Kafka service, started on first request."""
    _refuse_unless_allowed(pytestconfig, "Kafka")
    with kafka_service() as service:
        _announce(pytestconfig, service.report_line)
        yield service


@pytest.fixture(scope="session")
def roster_postgres(pytestconfig: pytest.Config) -> Iterator[PostgresService]:
    """The session's PostgreSQL service, started on first request."""
    _refuse_unless_allowed(pytestconfig, "PostgreSQL")
    with postgres_service() as service:
        _announce(pytestconfig, service.report_line)
        yield service


@pytest.fixture(scope="session")
def kafka_bootstrap(roster_kafka: KafkaService, pytestconfig: pytest.Config) -> str:
    """Bootstrap servers (``host:port``) of the session's broker."""
    pytestconfig.stash[_BOOTSTRAP] = roster_kafka.bootstrap
    return roster_kafka.bootstrap


@pytest.fixture(scope="session")
def postgres_url(roster_postgres: PostgresService) -> str:
    """SQLAlchemy async URL (``postgresql+asyncpg://``) of the session's ``roster`` database."""
    return roster_postgres.url


@pytest.fixture(autouse=True)
def _roster_topics_deleted(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, delete the topics under the prefixes it took from ``topic_prefix``.

    Autouse fixtures are set up first and so torn down last: the test's own consumers and
    producers have stopped by then.
    """
    take_prefixes()  # a prefix taken outside any test (module import) is not this test's
    yield
    prefixes = take_prefixes()
    bootstrap = request.config.stash.get(_BOOTSTRAP, None)
    if not prefixes or bootstrap is None:
        return
    # Best effort, as with databases: a failed delete must not fail a passing test.
    with contextlib.suppress(Exception):
        run_coroutine_sync(lambda: delete_topics_under(bootstrap, prefixes), timeout=15)


def _database_name_for(node_name: str) -> str:
    """``t_<test name>_<random>``: unique, valid, and recognisable when debugging."""
    stem = re.sub(r"[^a-z0-9_]+", "_", node_name.lower()).strip("_")[:40]
    return f"t_{stem}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fresh_database_url(
    roster_postgres: PostgresService, request: pytest.FixtureRequest
) -> Iterator[str]:
    """URL of a new, empty database for this test only; dropped (forcibly) afterwards.

    Tests that create schemas or rows get full isolation without truncation logic, and can
    run against a shared external server (``$ROSTER_TEST_DATABASE_URL``) without collisions.
    """
    url = roster_postgres.create_database(_database_name_for(request.node.name))
    yield url
    # Best effort: a throwaway server disappears anyway, and a failed drop must not turn a
    # passing test into an error.
    with contextlib.suppress(Exception):
        drop_database(url, database_name(url))
