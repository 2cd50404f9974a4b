"""The plugin marks every test that takes a server ``integration``, so ``-m "not integration"``
runs with no broker and no database; a run without integration tests refuses to start one.

Each case runs pytest on a small test file with only the plugin loaded.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "roster_testing.pytest_plugin")


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    """The inner runs' settings: the ones of ours that their plugins warn about when unset."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


SUITE = textwrap.dedent(
    """
    import pytest

    def test_unit():
        pass

    def test_takes_kafka(kafka_bootstrap):
        pass

    def test_takes_a_database(fresh_database_url):
        pass

    @pytest.fixture
    def stack(postgres_url):
        return postgres_url

    def test_through_another_fixture(stack):
        pass

    @pytest.fixture(params=["memory-sqlite", "kafka-postgres"])
    def pairing(request):
        return request.param

    def test_on_both_pairings(pairing):
        pass

    @pytest.mark.parametrize("value", ["postgres://x@host/db", "kafka"])
    def test_parameters(value):
        pass

    class Suite:
        bus_kind = "memory"
        db_kind = "sqlite"

        def test_contract(self):
            pass

    class TestEmbedded(Suite):
        pass

    class TestOnPostgres(Suite):
        db_kind = "postgres"

    class TestOnKafka(Suite):
        bus_kind = "kafka"
    """
)


def _collected(pytester: pytest.Pytester, *args: str) -> set[str]:
    result = pytester.runpytest(*PLUGIN, "--collect-only", "-q", *args)
    return {line.split("::", 1)[1] for line in result.outlines if "::" in line}


def test_tests_that_take_a_server_are_marked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    integration = {
        "test_takes_kafka",
        "test_takes_a_database",
        "test_through_another_fixture",
        "test_on_both_pairings[kafka-postgres]",
        "test_parameters[kafka]",  # a bare pairing word counts
        "TestOnPostgres::test_contract",
        "TestOnKafka::test_contract",
    }
    assert _collected(pytester, "-m", "integration") == integration
    assert _collected(pytester, "-m", "not integration") == {
        "test_unit",
        "test_on_both_pairings[memory-sqlite]",
        "test_parameters[postgres://x@host/db]",  # not a pairing
        "TestEmbedded::test_contract",
    }


def test_a_run_without_integration_tests_refuses_to_start_a_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing may be started, so none of the ways to find a server should be tried.
    for name in ("ROSTER_TEST_KAFKA", "ROSTER_TEST_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(
        test_hidden=textwrap.dedent(
            """
            def test_asks_at_run_time(request):
                request.getfixturevalue("kafka_bootstrap")
            """
        )
    )
    result = pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*asked for Kafka, but this run selected no integration test: mark the test*"]
    )
    assert "roster test infrastructure" not in result.stdout.str()  # nothing was started


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked=textwrap.dedent(
            """
            import pytest

            @pytest.mark.integration
            def test_by_hand():
                pass
            """
        )
    )
    result = pytester.runpytest(*PLUGIN, "--strict-markers", "-m", "integration")
    result.assert_outcomes(passed=1)
