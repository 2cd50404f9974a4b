"""``roster serve``: each service in its own process, the production way (Kafka, PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from roster_testing.topics import topic_prefix

from tests.cli.devserver import ROSTER, clean_env, free_port, http, roster

# Each test starts `roster serve` processes: out of the fast loop.
pytestmark = pytest.mark.slow

SERVICES = ("user-store", "scim-api", "sso-login", "reconciler")


class Fleet:
    """``roster serve`` processes, their logs in files."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, service: str, env: dict[str, str]) -> None:
        port = self.ports[service] = free_port()
        with (self.logs / f"{service}.log").open("wb") as log:
            self.processes[service] = subprocess.Popen(
                [str(ROSTER), "serve", service],
                env={**clean_env(), **env, "ROSTER_PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text()

    def wait_ready(self, service: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise AssertionError(f"{service} exited {process.returncode}:\n{self.log(service)}")
            try:
                if http(self.url(service) + "/readyz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{service} not ready in time:\n{self.log(service)}")

    def stop(self, service: str) -> int:
        process = self.processes.pop(service)
        process.send_signal(signal.SIGTERM)
        return process.wait(30)

    def kill_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        self.processes.clear()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.kill_all()


@pytest.mark.timeout(300)
def test_each_service_runs_on_its_own_with_kafka_and_postgresql(
    fleet: Fleet, kafka_bootstrap: str, fresh_database_url: str, tmp_path: Path
) -> None:
    # The CLI never migrates a production database: a tenant command refuses, naming the way.
    refused = roster("tenant", "list", "--database-url", fresh_database_url, "--json", cwd=tmp_path)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"] == "schema"
    assert "roster migrate --database-url" in refused.stderr

    internal = uuid.uuid4().hex
    common = {
        "ROSTER_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ROSTER_TOPIC_PREFIX": topic_prefix("serve"),
        "ROSTER_INTERNAL_TOKEN": internal,
        "ROSTER_TOPIC_PARTITIONS": "2",
    }
    fleet.start(
        "user-store",
        {
            **common,
            "ROSTER_DATABASE_URL": fresh_database_url,
            "ROSTER_ADMIN_TOKEN": "admin-secret",
            "ROSTER_CONSUMER_GROUP": f"serve-{uuid.uuid4().hex[:8]}",
        },
    )
    fleet.wait_ready("user-store")  # it migrated on start
    # Administration the production way: through the user-store's admin API.
    admin = ["--url", fleet.url("user-store"), "--admin-token", "admin-secret", "--json"]
    created = roster("tenant", "create", "acme", "--mode", "scim", *admin, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["slug"] == "acme"
    issued = roster("tenant", "token", "create", "acme", *admin, cwd=tmp_path)
    assert issued.returncode == 0, issued.stderr
    token = json.loads(issued.stdout)["token"]
    peers = {
        **common,
        "ROSTER_USER_STORE_URL": fleet.url("user-store"),
        "ROSTER_SESSION_SECRET": uuid.uuid4().hex * 2,
    }
    for service in SERVICES[1:]:
        fleet.start(service, peers)
    for service in SERVICES[1:]:
        fleet.wait_ready(service)

    store = fleet.url("user-store")
    assert http(f"{store}/internal/tenants/acme").status == 401
    assert http(f"{store}/internal/tenants/acme", token=internal).json()["slug"] == "acme"
    assert "acme" in {
        t["slug"] for t in http(f"{store}/admin/tenants", token="admin-secret").json()
    }

    spc = f"{fleet.url('scim-api')}/scim/v2/acme/ServiceProviderConfig"
    assert http(spc, token=token).status == 200
    wrong = http(spc, token="wrong")
    assert wrong.status == 401
    assert wrong.json()["status"] == "401"

    sso = fleet.url("sso-login")
    metadata = http(f"{sso}/sso/acme/saml/metadata")
    assert metadata.status == 200
    assert b"AssertionConsumerService" in metadata.body
    assert http(f"{sso}/sso/nobody/saml/metadata").status == 404

    # The console: its own process, acting through the others' APIs (no database, no Kafka).
    fleet.start(
        "console",
        {
            "ROSTER_USER_STORE_URL": store,
            "ROSTER_SSO_LOGIN_URL": sso,
            "ROSTER_RECONCILER_URL": fleet.url("reconciler"),
            "ROSTER_INTERNAL_TOKEN": internal,
            "ROSTER_ADMIN_TOKEN": "admin-secret",
            "ROSTER_SESSION_SECRET": uuid.uuid4().hex * 2,
        },
    )
    fleet.wait_ready("console")
    assert "acme" in console_tenants(fleet.url("console"), "admin-secret")
    assert http(f"{fleet.url('console')}/setup/rsl_not-a-link").status == 404
    assert fleet.stop("console") == 0, fleet.log("console")

    for service in SERVICES:
        assert http(f"{fleet.url(service)}/healthz").json() == {"status": "ok"}
        assert http(f"{fleet.url(service)}/metrics").status == 200

    for service in reversed(SERVICES):
        assert fleet.stop(service) == 0, fleet.log(service)
        lines = [line for line in fleet.log(service).splitlines() if line.startswith("{")]
        assert lines, f"{service} wrote no JSON log lines"
        assert all("level" in json.loads(line) for line in lines)


def console_tenants(base: str, admin: str) -> str:
    """Sign in to the console as a browser does (form token, sealed cookies) and read the
    tenants page. (urllib's cookie jar keeps no Secure cookie over http: carried by hand.)"""
    import re
    import urllib.parse
    import urllib.request

    cookies: dict[str, str] = {}

    def call(path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(base + path, data=data)
        request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kw: object) -> None:
                return None

        try:
            response = urllib.request.build_opener(NoRedirect).open(request, timeout=10)
        except urllib.error.HTTPError as error:
            response = error
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name] = rest.split(";", 1)[0]
        return response.status, response.read().decode()

    _, page = call("/console/signin")
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    status, _ = call("/console/signin", {"csrf": match.group(1), "token": admin})
    assert status == 303
    status, page = call("/console/tenants")
    assert status == 200, page
    return page


@pytest.mark.parametrize(
    ("service", "env", "message"),
    [
        ("user-store", {"ROSTER_KAFKA_BOOTSTRAP": "localhost:1"}, "ROSTER_ADMIN_TOKEN"),
        ("scim-api", {}, "ROSTER_KAFKA_BOOTSTRAP is required"),
        ("sso-login", {}, "ROSTER_KAFKA_BOOTSTRAP is required"),
        ("sso-login", {"ROSTER_KAFKA_BOOTSTRAP": "localhost:1"}, "ROSTER_SESSION_SECRET"),
        ("reconciler", {}, "ROSTER_KAFKA_BOOTSTRAP is required"),
        ("console", {}, "ROSTER_ADMIN_TOKEN"),
        ("console", {"ROSTER_ADMIN_TOKEN": "a"}, "ROSTER_SESSION_SECRET"),
    ],
)
def test_missing_settings_are_clear_errors(
    service: str, env: dict[str, str], message: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(ROSTER), "serve", service],
        env={**clean_env(), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []  # nothing written before the settings were checked
