"""``roster directory connect`` and ``roster reconcile`` on the embedded store, against the Okta
and Graph stand-ins: the interfaces scripts rely on (one JSON object with --json)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from roster_cli.main import main
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import Topics
from roster_testing.directories import DirectoryStandIn, Person
from user_store.db import create_engine

from tests.integration.harness import Stack, login, memory_bus

TOKEN = "okta-api-token"


@pytest.fixture(autouse=True)
def _no_roster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ROSTER_DATA",
        "ROSTER_DATABASE_URL",
        "ROSTER_DIRECTORY_KEY",
        "ROSTER_URL",
        "ROSTER_ADMIN_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def directory() -> AsyncIterator[DirectoryStandIn]:
    people = [Person(f"00u{i}", f"user{i}@example.com") for i in range(10)]
    stand_in = DirectoryStandIn(people, token=TOKEN, page_size=3)
    async with stand_in.running():
        yield stand_in


async def seed(data: Path, count: int) -> None:
    """A jit tenant 'acme' with ``count`` users who logged in, in DIR's database."""
    data.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        memory_bus(), create_engine(f"sqlite+aiosqlite:///{data / 'roster.db'}"), Topics()
    )
    await stack.start()
    try:
        tenant = await stack.tenant("acme", ProvisioningMode.JIT)
        for i in range(count):
            assert (await stack.send(login(tenant, f"s{i}", f"user{i}@example.com"))).ok
    finally:
        await stack.stop()


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    # main() runs its own event loop: keep it off this test's loop.
    code = await asyncio.to_thread(main, [*args, "--json"])
    out, _err = capsys.readouterr()
    return code, json.loads(out)


async def test_connect_dry_run_run_and_records(
    tmp_path: Path, directory: DirectoryStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    await seed(data, 10)
    code, connected = await cli(
        capsys,
        "directory",
        "connect",
        "acme",
        "--kind",
        "okta",
        "--url",
        directory.base("okta"),
        "--token",
        TOKEN,
        "--data",
        str(data),
    )
    assert code == 0, connected
    assert connected == {"tenant": "acme", "kind": "okta", "url": directory.base("okta")}
    assert TOKEN not in (data / "roster.db").read_bytes().decode("latin-1")
    assert (data / "directory-key").stat().st_mode & 0o777 == 0o600

    directory.people[4].status = "disabled"
    code, dry = await cli(capsys, "reconcile", "acme", "--dry-run", "--data", str(data))
    assert code == 0, dry
    assert dry["dry_run"] is True and dry["status"] == "completed"
    assert [(a["user_name"], a["outcome"]) for a in dry["actions"]] == [
        ("user4@example.com", "would")
    ]

    code, run = await cli(capsys, "reconcile", "acme", "--data", str(data))
    assert code == 0, run
    assert run["status"] == "completed"
    assert [(a["user_name"], a["outcome"], a["reason"]) for a in run["actions"]] == [
        ("user4@example.com", "applied", "directory (okta): status SUSPENDED")
    ]

    code, listed = await cli(capsys, "reconcile", "acme", "--runs", "--data", str(data))
    assert [r["id"] for r in listed["runs"]] == [run["id"], dry["id"]]

    # the same person is active again in the directory: jit mode reactivates them
    directory.people[4].status = "active"
    code, back = await cli(capsys, "reconcile", "acme", "--data", str(data))
    assert [(a["action"], a["outcome"]) for a in back["actions"]] == [("reactivate", "applied")]


async def test_the_brake_holds_until_approved(
    tmp_path: Path, directory: DirectoryStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    await seed(data, 10)
    await cli(
        capsys,
        "directory",
        "connect",
        "acme",
        "--kind",
        "okta",
        "--url",
        directory.base("okta"),
        "--token",
        TOKEN,
        "--data",
        str(data),
    )
    directory.hidden = {f"00u{i}" for i in range(6)}
    code, held = await cli(capsys, "reconcile", "acme", "--data", str(data))
    assert code == 0 and held["status"] == "held"
    code, approved = await cli(
        capsys, "reconcile", "acme", "--approve", held["id"], "--by", "alice", "--data", str(data)
    )
    assert approved["status"] == "completed" and approved["approved_by"] == "alice"
    assert {a["outcome"] for a in approved["actions"]} == {"applied"}
    code, again = await cli(
        capsys, "reconcile", "acme", "--approve", held["id"], "--data", str(data)
    )
    assert code == 1 and again["error"] == "conflict"


async def test_errors_are_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    # No database yet: a clear error naming `roster migrate` (nothing is made implicitly).
    code, failed = await cli(capsys, "reconcile", "nope", "--data", str(data))
    assert code == 1 and failed["error"] == "data"
    assert f"roster migrate --data {data}" in failed["detail"]
    await seed(data, 1)
    code, failed = await cli(capsys, "reconcile", "nope", "--data", str(data))
    assert code == 1 and failed["error"] in ("not_found", "unknown_tenant")
    code, failed = await cli(
        capsys,
        "directory",
        "connect",
        "acme",
        "--kind",
        "okta",
        "--token",
        "t",
        "--data",
        str(data),
    )
    assert code == 1 and "--url is required" in failed["detail"]
