"""``roster db reader-role``: prints the reader role's statements, or applies them and refuses a
role that can do more than call the token-checked functions (on the real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
from roster_cli.main import main
from user_store.reader_role import READER_FUNCTIONS

pytestmark = pytest.mark.integration


def _dsn(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def _sql(url: str, statement: str, *args: Any) -> Any:
    async def run() -> Any:
        connection = await asyncpg.connect(_dsn(url))
        try:
            return await connection.fetch(statement, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


@pytest.fixture
def database(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("ROSTER_DATABASE_URL", "ROSTER_READER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert main(["migrate", "--database-url", fresh_database_url]) == 0
    return fresh_database_url


@pytest.fixture
def role(database: str) -> Iterator[str]:
    name = f"rr_{uuid.uuid4().hex[:12]}"  # roles are the cluster's: one of its own per test
    yield name
    if _sql(database, "SELECT 1 FROM pg_roles WHERE rolname = $1", name):
        _sql(database, f'DROP OWNED BY "{name}"')
        _sql(database, f'DROP ROLE "{name}"')


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["db", "reader-role", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_without_apply_it_prints_the_statements_and_changes_nothing(
    database: str, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, role, "--database-url", database)
    assert code == 0 and out["applied"] is False
    grants = [s for s in out["statements"] if s.startswith("GRANT EXECUTE")]
    assert grants == [
        f'GRANT EXECUTE ON FUNCTION "public".{f} TO "{role}"' for f in READER_FUNCTIONS
    ]
    assert not any("SELECT ON" in s.upper() for s in out["statements"])
    assert _sql(database, "SELECT 1 FROM pg_roles WHERE rolname = $1", role) == []


def test_apply_makes_a_login_that_calls_the_functions_and_reads_no_table(
    database: str, role: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROSTER_READER_PASSWORD", "it's-a-secret")  # a quote, to be escaped
    code, out = _run(capsys, role, "--database-url", database, "--apply")
    assert code == 0, out
    assert out["applied"] is True and out["schema"] == "public"
    # The test server's migrations ran as its superuser: the operator is told what that means.
    owner = _sql(database, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    names = ["roster_token_tenant", "roster_token_user", "roster_token_user_name"]
    assert [w.split()[0] for w in out["warnings"]] == (names if owner[0]["rolsuper"] else [])
    parts = urlsplit(_dsn(database))
    host = parts.netloc.rpartition("@")[2]
    as_reader = urlunsplit(parts._replace(netloc=f"{role}:it%27s-a-secret@{host}"))
    rows = _sql(as_reader, "SELECT * FROM roster_token_tenant('acme', '', '')")
    assert rows == []  # callable; no tenant, no token: nothing
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
        _sql(as_reader, "SELECT * FROM scim_tokens")
    assert refused.value.sqlstate == "42501"
    # Applying again changes nothing and still passes its own check.
    code, again = _run(capsys, role, "--database-url", database, "--apply")
    assert code == 0, again


def test_apply_refuses_a_role_that_can_read_a_table(
    database: str, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _sql(database, f'CREATE ROLE "{role}" LOGIN')
    _sql(database, f'GRANT SELECT, UPDATE ON users TO "{role}"')
    code, out = _run(capsys, role, "--database-url", database, "--apply")
    assert code == 1
    assert out["error"] == "not_reader_only"
    assert "SELECT, UPDATE on users" in out["detail"]


def test_a_name_that_is_not_a_plain_role_name_is_refused(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, 'x"; DROP TABLE users; --', "--database-url", database, "--apply")
    assert code == 1 and out["error"] == "invalid"
    assert _sql(database, "SELECT count(*) AS n FROM users")[0]["n"] == 0  # still there


def test_sqlite_has_no_reader_role(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    code, out = _run(capsys, "roster_reader", "--database-url", f"sqlite:///{tmp_path}/r.db")
    assert code == 1 and out["error"] == "settings"
