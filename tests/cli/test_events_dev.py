"""``roster events tail|show|replay`` against a running ``roster dev``: its in-process bus is
asked over HTTP with the admin token (the Kafka case is tests/cli/test_events_commands.py)."""

from __future__ import annotations

import json

import pytest

from tests.cli.devserver import DevServer, roster
from tests.cli.test_dev_scim import TOKEN, curl

pytestmark = pytest.mark.slow


def test_tail_show_and_replay_on_the_dev_bus(dev: DevServer) -> None:
    banner = dev.start()
    token = TOKEN.findall(banner)[0]
    for name in ("ada", "bob"):
        status, _, _ = curl(
            "POST",
            f"{dev.base}/scim/v2/demo/Users",
            token,
            json.dumps({"userName": f"{name}@example.com"}).encode(),
        )
        assert status == 201
    admin = (dev.data / "admin-token").read_text().strip()
    where = ("--admin-url", dev.base, f"--admin-token={admin}")

    tail = roster(
        "events",
        "tail",
        "--tenant",
        "demo",
        "--from",
        "0",
        "--no-follow",
        "--json",
        *where,
        cwd=dev.logs,
    )
    assert tail.returncode == 0, tail.stderr
    events = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [(e["type"], e["data"]["user"]["user_name"]) for e in events] == [
        ("user.created", "ada@example.com"),
        ("user.created", "bob@example.com"),
    ]
    pretty = roster(
        "events", "tail", "--tenant", "demo", "--from", "1", "--no-follow", *where, cwd=dev.logs
    )
    assert "bob@example.com" in pretty.stdout and "ada@" not in pretty.stdout

    shown = roster("events", "show", events[1]["event_id"], "--json", *where, cwd=dev.logs)
    assert shown.returncode == 0 and json.loads(shown.stdout)["event"] == events[1]
    missing = roster("events", "show", "no-such-event", "--json", *where, cwd=dev.logs)
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"] == "not_found"

    # The webhooks service's group in this process read both events; set it back to the start.
    moved = roster(
        "events",
        "replay",
        "--group",
        "roster-webhooks",
        "--from",
        "0",
        "--json",
        *where,
        cwd=dev.logs,
    )
    assert moved.returncode == 0, moved.stderr
    after = {
        p["partition"]: (p["before"], p["after"]) for p in json.loads(moved.stdout)["partitions"]
    }
    assert sum(before for before, _ in after.values()) == 2
    assert all(target == 0 for _, target in after.values())
    refused = roster(
        "events",
        "tail",
        "--tenant",
        "demo",
        "--no-follow",
        "--admin-url",
        dev.base,
        "--admin-token",
        "wrong",
        cwd=dev.logs,
    )
    assert refused.returncode == 1 and "bearer credential" in refused.stderr, refused
