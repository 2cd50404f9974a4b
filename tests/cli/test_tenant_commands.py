"""``roster tenant ...`` and ``roster migrate``: --json output, friendly text, errors, targets.

The tenant commands never migrate: each test's data directory is made by ``roster migrate``
first, as a user (or ``roster dev``) does; a database behind is an error naming it.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from roster_cli.main import main
from roster_cli.schema import current
from user_store.db import create_engine, migrate

TOKEN = re.compile(r"^rst_[A-Za-z0-9]{16}_[A-Za-z0-9_-]{43}$")


@pytest.fixture(autouse=True)
def _no_roster_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ROSTER_DATA", "ROSTER_DATABASE_URL", "ROSTER_URL", "ROSTER_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


class Cli:
    """Runs ``roster`` in this process and keeps what it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str], data: str) -> None:
        self._capsys = capsys
        self.data = data

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = main([*args, "--data", self.data])
        out, err = self._capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)  # exactly one JSON document, nothing else

    def fails(self, *args: str) -> tuple[dict[str, Any], str]:
        code, out, err = self(*args, "--json")
        assert code == 1
        return json.loads(out), err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], data: str) -> Cli:
    assert main(["migrate", "--data", data]) == 0
    capsys.readouterr()
    return Cli(capsys, data)


def test_create_show_list(cli: Cli) -> None:
    created = cli.json("tenant", "create", "acme", "--mode", "scim")
    assert created["slug"] == "acme"
    assert created["mode"] == "scim"
    assert created["id"]
    cli.json("tenant", "create", "beta", "--mode", "jit", "--display-name", "Beta Corp")

    listed = cli.json("tenant", "list")
    assert list(listed) == ["tenants"]
    assert [(t["slug"], t["mode"]) for t in listed["tenants"]] == [
        ("acme", "scim"),
        ("beta", "jit"),
    ]

    shown = cli.json("tenant", "show", "beta")
    assert shown["display_name"] == "Beta Corp"
    assert shown["tokens"] == []
    # A tenant is found by its id as well as its slug.
    assert cli.json("tenant", "show", created["id"])["slug"] == "acme"


def test_create_defaults_to_the_recommended_mode(cli: Cli) -> None:
    assert cli.json("tenant", "create", "acme")["mode"] == "scim+jit"


def test_set_mode(cli: Cli) -> None:
    cli.json("tenant", "create", "acme", "--mode", "jit")
    changed = cli.json("tenant", "set-mode", "acme", "scim+jit")
    assert changed["mode"] == "scim+jit"
    assert cli.json("tenant", "show", "acme")["mode"] == "scim+jit"


def test_tokens_are_shown_once_listed_without_secret_and_revocable(cli: Cli) -> None:
    cli.json("tenant", "create", "acme")
    issued = cli.json("tenant", "token", "create", "acme", "--label", "okta-prod")
    assert TOKEN.match(issued["token"])
    assert issued["tenant"] == "acme"
    assert issued["label"] == "okta-prod"
    assert issued["token"].startswith(f"rst_{issued['id']}_")

    code, out, _ = cli("tenant", "show", "acme", "--json")
    assert code == 0
    assert issued["token"].split("_", 2)[2] not in out  # the secret never appears again
    (listed,) = json.loads(out)["tokens"]
    assert listed["id"] == issued["id"]
    assert listed["revoked_at"] is None

    revoked = cli.json("tenant", "token", "revoke", "acme", issued["id"])
    assert revoked["id"] == issued["id"]
    assert revoked["tenant"] == "acme"
    assert revoked["revoked_at"] is not None
    assert cli.json("tenant", "show", "acme")["tokens"][0]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("tenant", "show", "nope"), "unknown_tenant", "no tenant 'nope'"),
        (("tenant", "set-mode", "nope", "scim"), "unknown_tenant", "no tenant 'nope'"),
        (("tenant", "token", "create", "nope"), "unknown_tenant", "no tenant 'nope'"),
        (("tenant", "token", "revoke", "acme", "missing"), "not_found", "no token 'missing'"),
        (("tenant", "create", "Not A Slug"), "invalid", "lower-case letters"),
        (("tenant", "create", "bad-"), "invalid", "lower-case letters"),
        (("tenant", "create", "acme"), "uniqueness", "'acme' already exists"),
    ],
)
def test_errors_are_clear_and_exit_1(
    cli: Cli, args: tuple[str, ...], error: str, message: str
) -> None:
    cli.json("tenant", "create", "acme")
    body, stderr = cli.fails(*args)
    assert body["error"] == error
    assert message in body["detail"]
    assert message in stderr
    assert stderr.startswith("roster: error: ")
    assert "Traceback" not in stderr

    code, out, stderr = cli(*args)  # without --json: nothing on stdout, the message on stderr
    assert code == 1
    assert out == ""
    assert message in stderr


def test_a_token_of_one_tenant_cannot_be_revoked_through_another(cli: Cli) -> None:
    cli.json("tenant", "create", "acme")
    cli.json("tenant", "create", "beta")
    issued = cli.json("tenant", "token", "create", "acme")
    body, _ = cli.fails("tenant", "token", "revoke", "beta", issued["id"])
    assert body["error"] == "not_found"
    assert cli.json("tenant", "show", "acme")["tokens"][0]["revoked_at"] is None


def test_a_bad_mode_is_a_usage_error(cli: Cli) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli("tenant", "create", "acme", "--mode", "ldap")
    assert exit_.value.code == 2


def test_friendly_text(cli: Cli) -> None:
    code, out, _ = cli("tenant", "list")
    assert code == 0
    assert "No tenants yet" in out

    code, out, _ = cli("tenant", "create", "acme", "--mode", "scim")
    assert code == 0
    assert "Created tenant 'acme'" in out
    assert "roster tenant token create acme" in out

    code, out, _ = cli("tenant", "token", "create", "acme", "--label", "okta")
    assert code == 0
    (token,) = re.findall(r"rst_\S+", out)
    assert "shown only this once" in out
    token_id = token.split("_")[1]

    code, out, _ = cli("tenant", "show", "acme")
    assert code == 0
    assert token_id in out
    assert token not in out
    assert "/scim/v2/acme/" in out

    code, out, _ = cli("tenant", "set-mode", "acme", "jit")
    assert code == 0
    assert "not immediately" in out  # jit mode's deprovisioning delay is said plainly

    code, out, _ = cli("tenant", "list")
    assert re.search(r"^acme\s+jit\s", out, re.MULTILINE)

    code, out, _ = cli("tenant", "token", "revoke", "acme", token_id)
    assert code == 0
    assert f"Revoked SCIM token {token_id}" in out


def test_database_url_and_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert main(["migrate", "--database-url", url]) == 0
    assert main(["tenant", "create", "acme", "--database-url", url, "--json"]) == 0
    capsys.readouterr()

    monkeypatch.setenv("ROSTER_DATABASE_URL", url)
    assert main(["tenant", "list", "--json"]) == 0
    assert [t["slug"] for t in json.loads(capsys.readouterr().out)["tenants"]] == ["acme"]

    # --data wins over the environment.
    other = tmp_path / "other"
    assert main(["migrate", "--data", str(other)]) == 0
    assert main(["tenant", "list", "--json", "--data", str(other)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"tenants": []}

    monkeypatch.delenv("ROSTER_DATABASE_URL")
    monkeypatch.setenv("ROSTER_DATA", str(tmp_path / "from-env"))
    assert main(["migrate"]) == 0
    assert main(["tenant", "create", "beta", "--json"]) == 0
    capsys.readouterr()
    assert (tmp_path / "from-env" / "roster.db").is_file()

    monkeypatch.delenv("ROSTER_DATA")
    assert main(["migrate"]) == 0  # ./.roster under the current directory
    assert main(["tenant", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"tenants": []}
    assert (tmp_path / ".roster" / "roster.db").is_file()


def test_nothing_migrates_implicitly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A tenant command on a database without the newest schema is a clear error that names
    `roster migrate`, and changes nothing (it used to migrate first, even on PostgreSQL)."""
    fresh = tmp_path / "fresh"
    code = main(["tenant", "list", "--json", "--data", str(fresh)])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["error"] == "data"
    assert f"roster migrate --data {fresh}" in err
    assert not fresh.exists()  # a mistyped --data does not become a new store

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    code = main(["tenant", "create", "acme", "--json", "--database-url", url])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["error"] == "schema"
    assert "has no Roster schema yet" in err
    assert f"roster migrate --database-url {tmp_path / 'empty.db'}" in err

    # A schema behind the newest is refused the same way, and stays where it was.
    async def first_revision_only() -> set[str]:
        engine = create_engine(url)
        try:
            await migrate(engine, "0001")
            return await current(engine)
        finally:
            await engine.dispose()

    before = asyncio.run(first_revision_only())
    code = main(["tenant", "list", "--json", "--database-url", url])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["error"] == "schema"
    assert "behind" in err and "roster migrate --database-url" in err

    async def revision() -> set[str]:
        engine = create_engine(url)
        try:
            return await current(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(revision()) == before
    assert main(["migrate", "--database-url", url]) == 0
    capsys.readouterr()
    assert main(["tenant", "list", "--json", "--database-url", url]) == 0
    assert json.loads(capsys.readouterr().out) == {"tenants": []}


def test_data_and_database_url_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tenant", "list", "--data", str(tmp_path), "--database-url", "sqlite:///x.db"])
    assert exit_.value.code == 2


def test_migrate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["migrate", "--data", str(tmp_path / "d")]) == 0
    assert "newest schema" in capsys.readouterr().out
    assert (tmp_path / "d" / "roster.db").is_file()
    assert main(["migrate", "--data", str(tmp_path / "d")]) == 0  # idempotent


def test_an_unreachable_database_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(["tenant", "list", "--json", "--data", str(blocker / "sub")])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["error"] == "data"
    assert "roster migrate --data" in err  # the tenant commands make no data directory
    code = main(["migrate", "--data", str(blocker / "sub")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "cannot create the data directory" in err
