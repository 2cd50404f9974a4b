"""The composer: every service on one root, whose /readyz and /metrics cover all of them, and
the CLI administering a composed Roster through its admin APIs (``--url``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from roster_cli import compose
from roster_cli.main import main
from roster_shared.bus.memory import MemoryBus
from user_store.db import create_engine

ADMIN = "admin-secret"


@pytest.fixture
async def composed(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
    sock = compose.bind("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wiring = compose.Wiring(
        database_url=url,
        self_url=base,
        admin_token=ADMIN,
        internal_token="internal",
        session_secret="s" * 32,
        directory_key=None,
        overrides={"reconciler": {"schedule": False}},
    )
    bus = MemoryBus()
    await bus.start()
    try:
        app = compose.compose(wiring, bus=bus, engine=create_engine(url))
        async with compose.listening(app, sock) as served:
            assert served == base
            yield base, app
    finally:
        await bus.stop()


async def get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read()


async def test_readyz_and_metrics_cover_every_service(composed: tuple[str, Any]) -> None:
    base, app = composed
    status, body = await get(f"{base}/readyz")
    assert status == 200
    assert json.loads(body) == {
        "status": "ready",
        "services": {
            "user-store": "ready",
            "scim-api": "ready",
            "sso-login": "ready",
            "reconciler": "ready",
            "console": "ready",
            "webhooks": "ready",
        },
    }
    status, body = await get(f"{base}/metrics")
    assert status == 200
    text = body.decode()
    for family in (
        "roster_user_store_events_applied",
        "roster_scim_api_responses",
        "roster_sso_login_responses",
        "roster_reconciler_runs",
        "roster_console_responses",
        "roster_webhook_attempts",
    ):
        assert f"# TYPE {family}" in text, family

    # One mounted service not ready: the whole is not ready, and says which.
    (sso,) = [p for p in app[compose.PROBES] if p.name == "sso-login"]
    from sso_login.keys import STATE

    state = sso.api[STATE]
    assert await sso.ready()
    state.running = False
    try:
        status, body = await get(f"{base}/readyz")
    finally:
        state.running = True
    assert status == 503
    assert json.loads(body)["services"]["sso-login"] == "not ready"
    assert json.loads(body)["status"] == "not ready"


async def test_the_cli_administers_through_the_admin_apis(
    composed: tuple[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base, _app = composed
    admin = ["--url", base, "--admin-token", ADMIN, "--json"]

    async def cli(*args: str) -> tuple[int, Any]:
        code = await asyncio.to_thread(main, [*args, *admin])
        out = capsys.readouterr().out
        return code, json.loads(out)

    code, created = await cli("tenant", "create", "acme", "--mode", "jit")
    assert code == 0 and created["slug"] == "acme" and created["mode"] == "jit"
    code, issued = await cli("tenant", "token", "create", "acme", "--label", "okta")
    assert code == 0 and issued["token"].startswith(f"rst_{issued['id']}_")
    code, shown = await cli("tenant", "show", "acme")
    assert [t["id"] for t in shown["tokens"]] == [issued["id"]]
    assert issued["token"] not in json.dumps(shown)
    code, listed = await cli("tenant", "list")
    assert [t["slug"] for t in listed["tenants"]] == ["acme"]
    code, changed = await cli("tenant", "set-mode", "acme", "scim+jit")
    assert changed["mode"] == "scim+jit"
    code, revoked = await cli("tenant", "token", "revoke", "acme", issued["id"])
    assert code == 0 and revoked["tenant"] == "acme" and revoked["revoked_at"]

    # The advice under a tenant's policy reads the tenant through the admin API too.
    code, advice = await cli("tenant", "advise", "--idp", "okta", "--no-scim", "--tenant", "acme")
    assert code == 0 and advice["worst_case_delay_seconds"] == 90 * 86_400 + 3600

    # Refusals keep the service's code, as on the embedded database.
    code, failed = await cli("tenant", "show", "nope")
    assert code == 1 and failed["error"] == "unknown_tenant"
    code, failed = await cli("tenant", "create", "acme")
    assert code == 1 and failed["error"] == "uniqueness"

    # SSO connections go to sso-login's admin API.
    code, oidc = await cli(
        "connection",
        "oidc",
        "acme",
        "--issuer",
        "https://op.example.com",
        "--client-id",
        "c",
        "--client-secret",
        "very-secret",
    )
    assert code == 0, oidc
    assert oidc["tenant"] == "acme" and oidc["oidc"]["client_secret"] == "***"
    code, shown = await cli("connection", "show", "acme")
    assert shown["oidc"]["issuer"] == "https://op.example.com"

    # The reconciler's API: runs are the running reconciler's.
    code, dry = await cli("reconcile", "acme", "--dry-run")
    assert code == 0 and dry["dry_run"] is True and dry["tenant"] == "acme"
    code, runs = await cli("reconcile", "acme", "--runs")
    assert code == 0 and [r["id"] for r in runs["runs"]] == [dry["id"]]


async def test_a_wrong_or_missing_admin_token_is_refused(
    composed: tuple[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _app = composed
    monkeypatch.delenv("ROSTER_ADMIN_TOKEN", raising=False)
    code = await asyncio.to_thread(main, ["tenant", "list", "--url", base, "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and json.loads(out)["error"] == "usage" and "--admin-token" in err
    code = await asyncio.to_thread(
        main, ["tenant", "list", "--url", base, "--admin-token", "wrong", "--json"]
    )
    assert code == 1 and json.loads(capsys.readouterr().out)["error"] == "unauthorized"
