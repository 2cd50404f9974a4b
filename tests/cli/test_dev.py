"""``roster dev`` as a new user meets it: start, SCIM token, tenants from the CLI, restart."""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli.devserver import ROSTER, DevServer, clean_env, free_port, http, roster

TOKEN = re.compile(r"\brst_[A-Za-z0-9]{16}_[A-Za-z0-9_-]{43}\b")
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _admin_token(banner: str) -> str:
    match = re.search(r"^Admin token\s+(\S+)$", banner, re.MULTILINE)
    assert match, banner
    return match.group(1)


def _slugs(tenants: list[dict[str, object]]) -> set[object]:
    return {tenant["slug"] for tenant in tenants}


def test_the_console_script_is_installed() -> None:
    assert ROSTER.is_file(), f"no roster console script beside {ROSTER.parent}"


@pytest.mark.slow  # a `roster dev` process
def test_first_start_prints_the_urls_and_a_scim_token_that_works(dev: DevServer) -> None:
    banner = dev.start()
    base = dev.base

    assert f"{base}/scim/v2/demo/" in banner
    assert f"{base}/sso/demo/login" in banner
    assert f"{base}/sso/demo/saml/metadata" in banner
    assert f"{base}/admin/tenants" in banner
    assert str(dev.data) in banner
    tokens = TOKEN.findall(banner)
    assert len(tokens) == 1, banner
    token = tokens[0]

    admin_file = dev.data / "admin-token"
    assert stat.S_IMODE(admin_file.stat().st_mode) == 0o600
    admin = _admin_token(banner)
    assert admin_file.read_text().strip() == admin
    assert (dev.data / "roster.db").is_file()

    assert http(f"{base}/healthz").json() == {"status": "ok"}
    ready = http(f"{base}/readyz")
    assert ready.status == 200
    # Readiness and metrics cover every service in the process, not only the user-store.
    assert set(ready.json()["services"]) == {"user-store", "scim-api", "sso-login", "reconciler"}
    metrics = http(f"{base}/metrics").body.decode()
    for family in ("roster_user_store_up", "roster_scim_api_responses", "roster_reconciler_runs"):
        assert f"# TYPE {family}" in metrics, family

    config = http(f"{base}/scim/v2/demo/ServiceProviderConfig", token=token)
    assert config.status == 200
    assert config.headers.get_content_type() == "application/scim+json"
    body = config.json()
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["patch"] == {"supported": True}

    for wrong in ("rst_aaaaaaaaaaaaaaaa_" + "x" * 43, "not-a-token", None):
        refused = http(f"{base}/scim/v2/demo/ServiceProviderConfig", token=wrong)
        assert refused.status == 401, wrong
        assert refused.headers.get_content_type() == "application/scim+json"
        error = refused.json()
        assert error["schemas"] == [SCIM_ERROR]
        assert error["status"] == "401"
        assert error["detail"]

    # The demo tenant's token does not open another tenant, even one that does not exist.
    assert http(f"{base}/scim/v2/other/ServiceProviderConfig", token=token).status == 401
    users = http(f"{base}/scim/v2/demo/Users", token=token)
    assert users.status == 200
    assert users.json()["totalResults"] == 0
    assert http(f"{base}/sso/demo/saml/metadata").status == 200
    assert http(f"{base}/sso/nobody/login").status == 404

    assert http(f"{base}/admin/tenants").status == 401
    assert http(f"{base}/admin/tenants", token="wrong").status == 401
    listed = http(f"{base}/admin/tenants", token=admin)
    assert listed.status == 200
    assert _slugs(listed.json()) == {"demo"}
    # The internal API is not open to whoever can reach the port.
    assert http(f"{base}/internal/tenants/demo").status == 401

    code, _ = dev.stop(signal.SIGTERM)
    assert code == 0
    assert "Stopped." in dev.output


@pytest.mark.slow  # a `roster dev` process
def test_a_tenant_created_while_dev_runs_survives_a_restart(dev: DevServer) -> None:
    first = dev.start()
    demo_token = TOKEN.findall(first)[0]
    admin = _admin_token(first)
    data = str(dev.data)

    created = roster(
        "tenant", "create", "acme", "--mode", "jit", "--data", data, "--json", cwd=dev.logs
    )
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    assert tenant["slug"] == "acme"
    assert tenant["mode"] == "jit"

    # The running server sees the new tenant at once, through its admin API...
    assert "acme" in _slugs(http(f"{dev.base}/admin/tenants", token=admin).json())
    # ...and a token minted by the CLI works against it immediately.
    minted = roster("tenant", "token", "create", "demo", "--data", data, "--json", cwd=dev.logs)
    assert minted.returncode == 0, minted.stderr
    second_token = json.loads(minted.stdout)["token"]
    spc = f"{dev.base}/scim/v2/demo/ServiceProviderConfig"
    assert http(spc, token=second_token).status == 200

    code, took = dev.stop(signal.SIGINT)
    assert code == 0, dev.errors
    assert took < 10
    assert "Stopped." in dev.output
    assert "Traceback" not in dev.errors

    again = dev.start()
    assert TOKEN.findall(again) == [], "a restart must not mint a new token"
    assert "roster tenant token create demo" in again
    assert _admin_token(again) == admin
    assert http(spc, token=demo_token).status == 200
    assert http(spc, token=second_token).status == 200

    listed = roster("tenant", "list", "--data", data, "--json", cwd=dev.logs)
    assert listed.returncode == 0, listed.stderr
    assert _slugs(json.loads(listed.stdout)["tenants"]) == {"acme", "demo"}
    over_http = http(f"{dev.base}/admin/tenants", token=admin)
    assert over_http.status == 200
    assert {(t["slug"], t["mode"]) for t in over_http.json()} == {
        ("acme", "jit"),
        ("demo", "scim+jit"),
    }

    code, _ = dev.stop(signal.SIGINT)
    assert code == 0


@pytest.mark.slow  # a `roster dev` process
def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(ROSTER), "dev", "--port", str(port), "--data", str(tmp_path / "data")],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # a `roster dev` process
def test_a_second_dev_on_the_same_data_refuses_to_start(dev: DevServer) -> None:
    dev.start()
    second = subprocess.run(
        [str(ROSTER), "dev", "--port", str(free_port()), "--data", str(dev.data)],
        cwd=dev.logs,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1
    assert f"another `roster dev` is already running on {dev.data}" in second.stderr
    assert http(f"{dev.base}/healthz").status == 200  # the first one carries on
    code, _ = dev.stop()
    assert code == 0


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("::", "[::1]"),
        ("::1", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_urls_name_a_host_a_browser_can_reach(host: str, shown: str) -> None:
    from roster_cli.compose import url_host

    assert url_host(host) == shown
