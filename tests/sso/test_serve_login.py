"""The production way: the user-store and two sso-login instances, each its own process
(``roster serve``), on Kafka and PostgreSQL behind one public URL. A login on one instance is
a session on the other; the response replayed to the other instance is refused (the replay
cache is shared, in PostgreSQL)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from roster_testing.topics import topic_prefix

from tests.cli.devserver import ROSTER, clean_env, free_port, http, roster
from tests.sso.saml_idp import SamlIdP
from tests.sso.stack import Browser, saml_request_id

# Three `roster serve` processes: out of the fast loop (and it takes Kafka and PostgreSQL).
pytestmark = pytest.mark.slow


class Processes:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def serve(self, service: str, env: dict[str, str]) -> str:
        port = free_port()
        log = self.logs / f"{service}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(ROSTER), "serve", service],
                env={**clean_env(), **env, "ROSTER_PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running.append((process, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(log.read_text())
            try:
                if http(url + "/readyz", timeout=2).status == 200:
                    return url
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{service} not ready:\n{log.read_text()}")

    def stop(self) -> None:
        for process, _ in self.running:
            process.terminate()
        for process, _ in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop()


@pytest.mark.timeout(300)
async def test_two_sso_instances_share_sessions_and_the_replay_cache(
    processes: Processes, kafka_bootstrap: str, fresh_database_url: str, tmp_path: Path
) -> None:
    # The CLI never migrates implicitly: the schema first, explicitly.
    migrated = roster("migrate", "--database-url", fresh_database_url, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    created = roster(
        "tenant",
        "create",
        "acme",
        "--mode",
        "jit",
        "--database-url",
        fresh_database_url,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    common = {
        "ROSTER_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ROSTER_TOPIC_PREFIX": topic_prefix("serve"),
        "ROSTER_INTERNAL_TOKEN": "internal",
        "ROSTER_TOPIC_PARTITIONS": "2",
    }
    store = processes.serve(
        "user-store",
        {
            **common,
            "ROSTER_DATABASE_URL": fresh_database_url,
            "ROSTER_ADMIN_TOKEN": "admin",
            "ROSTER_CONSUMER_GROUP": f"serve-{uuid.uuid4().hex[:8]}",
        },
    )
    public = f"http://127.0.0.1:{free_port()}"  # the load balancer's address, as configured
    sso_env = {
        **common,
        "ROSTER_USER_STORE_URL": store,
        "ROSTER_SESSION_SECRET": "one-secret-for-every-instance-32b",
        "ROSTER_PUBLIC_URL": public,
    }
    first = processes.serve("sso-login", sso_env)
    second = processes.serve("sso-login", sso_env)

    metadata = http(f"{first}/sso/acme/saml/metadata").body.decode()
    assert f'entityID="{public}/sso/acme/saml/metadata"' in metadata
    idp = SamlIdP(tmp_path / "idp", [metadata])
    (tmp_path / "idp.xml").write_text(idp.metadata())
    connected = roster(
        "connection",
        "saml",
        "acme",
        "--metadata",
        str(tmp_path / "idp.xml"),
        "--database-url",
        fresh_database_url,
        cwd=tmp_path,
    )
    assert connected.returncode == 0, connected.stderr

    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[first, second])
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        browser = Browser(session, first)
        start = await browser.get("/sso/acme/saml/login")
        assert start.status == 303
        login_cookie = start.cookies["roster_saml"].value  # the thief copies it too
        request_id, acs = saml_request_id(idp, start.headers["Location"])
        assert acs == f"{public}/sso/acme/saml/acs"
        encoded = idp.response(
            sp_entity_id=f"{public}/sso/acme/saml/metadata",
            acs_url=acs,
            name_id="ada@example.com",
            in_response_to=request_id,
            attributes={"mail": ["ada@example.com"]},
        )
        # The balancer sends the POST to the first instance (same path, its own port).
        done = await browser.post(f"{first}/sso/acme/saml/acs", data={"SAMLResponse": encoded})
        assert done.status == 303, await done.text()
        cookie = done.cookies["roster_session"].value
        on_second = await Browser(session, second).get(
            "/sso/session", cookies={"roster_session": cookie}
        )
        assert on_second.status == 200
        assert (await on_second.json())["user_name"] == "ada@example.com"

    # The same response replayed to the other instance, with a copy of the browser's login
    # cookie (so InResponseTo matches): only the shared replay cache stands in the way.
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[second])
    ) as thief:
        replay = await Browser(thief, second).post(
            "/sso/acme/saml/acs",
            data={"SAMLResponse": encoded},
            cookies={"roster_saml": login_cookie},
        )
        assert replay.status == 400
