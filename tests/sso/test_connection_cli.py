"""``roster connection ...`` beside a running ``roster dev``, then a real login through it, as
the README tells a new user to do; and the command's errors."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.cli.devserver import DevServer, http, roster
from tests.sso.saml_idp import SamlIdP
from tests.sso.stack import Browser, saml_request_id

# Each test runs `roster` processes (one a `roster dev`): out of the fast loop.
pytestmark = pytest.mark.slow


async def test_connect_saml_while_roster_dev_runs_and_log_in(
    dev: DevServer, tmp_path: Path
) -> None:
    dev.start()
    base = dev.base
    metadata = http(f"{base}/sso/demo/saml/metadata")
    assert metadata.status == 200
    idp = SamlIdP(tmp_path / "idp", [metadata.body.decode()])
    idp_file = tmp_path / "idp.xml"
    idp_file.write_text(idp.metadata())

    done = roster(
        "connection",
        "saml",
        "demo",
        "--metadata",
        str(idp_file),
        "--data",
        str(dev.data),
        "--public-url",
        base,
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["saml"]["idp_entity_id"] == idp.entity_id
    text = roster("connection", "show", "demo", "--data", str(dev.data), cwd=tmp_path).stdout
    assert idp.entity_id in text

    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        browser = Browser(session, base)
        start = await browser.get("/sso/demo/login")
        assert start.status == 303
        start = await browser.get(start.headers["Location"])
        assert start.status == 303
        assert start.headers["Location"].startswith(idp.sso_url)
        request_id, acs = saml_request_id(idp, start.headers["Location"])
        assert acs == f"{base}/sso/demo/saml/acs"
        encoded = idp.response(
            sp_entity_id=f"{base}/sso/demo/saml/metadata",
            acs_url=acs,
            name_id="grace@example.com",
            in_response_to=request_id,
            attributes={"mail": ["grace@example.com"], "givenName": ["Grace"]},
        )
        landed = await browser.post(acs, data={"SAMLResponse": encoded})
        assert landed.status == 303, await landed.text()
        me = await browser.get(landed.headers["Location"])
        assert me.status == 200
        assert (await me.json())["user_name"] == "grace@example.com"


def test_connection_errors(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert roster("migrate", "--data", data, cwd=tmp_path).returncode == 0  # never implicit
    assert roster("tenant", "create", "acme", "--data", data, cwd=tmp_path).returncode == 0
    bad = tmp_path / "bad.xml"
    bad.write_text("<not-metadata/>")
    failed = roster(
        "connection",
        "saml",
        "acme",
        "--metadata",
        str(bad),
        "--data",
        data,
        "--json",
        cwd=tmp_path,
    )
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error"] == "metadata"
    missing = roster(
        "connection",
        "saml",
        "acme",
        "--metadata",
        str(tmp_path / "nope.xml"),
        "--data",
        data,
        cwd=tmp_path,
    )
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    hs = roster(
        "connection",
        "oidc",
        "acme",
        "--issuer",
        "https://op.example.com",
        "--client-id",
        "c",
        "--client-secret",
        "s",
        "--algorithms",
        "HS256",
        "--data",
        data,
        "--json",
        cwd=tmp_path,
    )
    assert hs.returncode == 1 and json.loads(hs.stdout)["error"] == "invalid"
    ok = roster(
        "connection",
        "oidc",
        "acme",
        "--issuer",
        "https://op.example.com",
        "--client-id",
        "c",
        "--client-secret",
        "very-secret",
        "--data",
        data,
        "--json",
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["oidc"]["client_secret"] == "***"
    assert "very-secret" not in ok.stdout
    unknown = roster(
        "connection",
        "oidc",
        "nobody",
        "--issuer",
        "https://op.example.com",
        "--client-id",
        "c",
        "--client-secret",
        "s",
        "--data",
        data,
        "--json",
        cwd=tmp_path,
    )
    assert unknown.returncode == 1 and json.loads(unknown.stdout)["error"] == "unknown_tenant"
