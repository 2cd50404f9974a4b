"""The console's and the portal's handlers and templates, on a stand-in for the admin APIs.

The stand-in (:class:`FakeBackend`) records every change it is asked for, so the tests assert
both what the page says and that refused input changed nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from console.app import create_app
from console.backend import Backend, BackendError, Urls
from console.settings import ConsoleSettings
from roster_shared.tenants import ProvisioningMode, TenantInfo

ClientFactory = Callable[..., Awaitable[TestClient]]
ADMIN = "admin-credential"
LINK = "rsl_abcdefghij012345_" + "x" * 43
GONE = "rsl_zzzzzzzzzz012345_" + "y" * 43
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def tenant(slug: str = "acme", mode: ProvisioningMode = ProvisioningMode.SCIM_JIT) -> TenantInfo:
    return TenantInfo(id=f"id-{slug}", slug=slug, mode=mode, created_at=NOW, updated_at=NOW)


class FakeBackend(Backend):
    """The admin and internal APIs as data; ``changes`` lists every write asked for."""

    def __init__(self) -> None:
        super().__init__(Urls("u", "s", "r"), admin_token=ADMIN, internal_token=None, timeout=1)
        self.tenants_ = {"acme": tenant()}
        self.changes: list[tuple[Any, ...]] = []
        self.scim_log: list[dict[str, Any]] = []
        self.runs_: list[dict[str, Any]] | None = None
        self.signed_out_: set[str] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def sign_out(self, session_hash: str, until: int) -> None:
        self.signed_out_.add(session_hash)

    async def signed_out(self, session_hash: str) -> bool:
        return session_hash in self.signed_out_

    async def tenants(self) -> list[TenantInfo]:
        return list(self.tenants_.values())

    async def create_tenant(self, slug: str, mode: str, display_name: str | None) -> TenantInfo:
        if slug in self.tenants_:
            raise BackendError(409, "uniqueness", f"tenant {slug!r} already exists")
        self.changes.append(("create", slug, mode))
        self.tenants_[slug] = tenant(slug, ProvisioningMode(mode))
        return self.tenants_[slug]

    async def tenant(self, ref: str) -> tuple[TenantInfo, list[dict[str, Any]]]:
        if ref not in self.tenants_:
            raise BackendError(404, "unknown_tenant", f"no tenant {ref!r}")
        return self.tenants_[ref], []

    async def issue_token(self, ref: str, label: str | None) -> dict[str, Any]:
        self.changes.append(("token", ref, label))
        return {"id": "t" * 16, "token": "rst_" + "t" * 16 + "_" + "S" * 43, "label": label}

    async def links(self, ref: str) -> list[dict[str, Any]]:
        return []

    async def create_link(
        self, ref: str, parts: list[str], hours: int, label: str | None
    ) -> dict[str, Any]:
        self.changes.append(("link", ref, tuple(parts), hours))
        expires = (NOW + timedelta(hours=hours)).isoformat()
        return {"id": "l" * 16, "token": LINK, "parts": parts, "expires_at": expires}

    async def open_link(self, token: str) -> tuple[dict[str, Any], TenantInfo]:
        if token == GONE:
            raise BackendError(410, "link_gone", "this setup link has expired")
        if token != LINK:
            raise BackendError(404, "not_found", "not a link")
        link = {"id": "l" * 16, "parts": ["scim"], "expires_at": "2026-12-31T00:00:00+00:00"}
        return link, self.tenants_["acme"]

    async def sso(self, ref: str) -> dict[str, Any]:
        return {
            "mapping": "okta",
            "service_provider": {
                "entity_id": f"https://roster.example.com/sso/{ref}/saml/metadata",
                "acs_url": f"https://roster.example.com/sso/{ref}/saml/acs",
                "metadata_url": f"https://roster.example.com/sso/{ref}/saml/metadata",
                "oidc_redirect_uri": f"https://roster.example.com/sso/{ref}/oidc/callback",
            },
        }

    async def set_policy(self, ref: str, policy: dict[str, Any]) -> dict[str, Any]:
        if policy["interval_minutes"] < 1:  # as the reconciler's model refuses it
            raise BackendError(400, "invalid", "invalid policy: Input should be >= 1")
        self.changes.append(("policy", ref, policy))
        return policy

    async def runs(self, ref: str, limit: int = 10) -> list[dict[str, Any]]:
        if self.runs_ is None:
            raise BackendError(401, "unauthorized", "the reconciler's admin API is closed")
        return self.runs_

    async def health(self, ref: str) -> dict[str, Any]:
        window = {"total": 20, "failed": 6}
        return {
            "scim": {"hour": window, "day": window, "last_success_at": None},
            "sso": {"hour": {"total": 0, "failed": 0}, "day": {"total": 0, "failed": 0}},
            "jit_unconfirmed": [],
            "token_last_used": {},
        }

    async def request_log(self, ref: str, source: str, limit: int = 20) -> list[dict[str, Any]]:
        return self.scim_log if source == "scim" else []

    async def advise(self, requirements: dict[str, Any]) -> dict[str, Any]:
        return {
            "mode": "scim+jit",
            "reasons": ["because"],
            "worst_case_delay": "Within seconds to a few minutes",
            "warnings": [],
        }


class Browser:
    """A test client that keeps cookies the way a browser on a secure origin does."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, str, Any]:
        header = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        async with self.client.request(
            method, path, allow_redirects=False, headers={"Cookie": header}, **kw
        ) as response:
            for name, morsel in response.cookies.items():
                self.cookies[name] = morsel.value
            return response.status, await response.text(), response.headers

    async def csrf(self, path: str) -> str:
        _, page, _ = await self.request("GET", path)
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match, page[:500]
        return match.group(1)

    async def sign_in(self) -> str:
        csrf = await self.csrf("/console/signin")
        status, _, headers = await self.request(
            "POST", "/console/signin", data={"csrf": csrf, "token": ADMIN}
        )
        assert status == 303 and headers["Location"] == "/console/tenants"
        return csrf


@pytest.fixture
async def env(aiohttp_client: ClientFactory) -> tuple[Browser, FakeBackend]:
    fake = FakeBackend()
    settings = ConsoleSettings(
        admin_token=ADMIN, session_secret="s" * 32, public_url="https://roster.example.com"
    )
    client = await aiohttp_client(create_app(settings, backend=fake))
    return Browser(client), fake


async def test_console_needs_sign_in_and_the_right_credential(
    env: tuple[Browser, FakeBackend],
) -> None:
    browser, _ = env
    status, _, headers = await browser.request("GET", "/console/tenants")
    assert status == 303 and headers["Location"] == "/console/signin"
    csrf = await browser.csrf("/console/signin")
    status, page, _ = await browser.request(
        "POST", "/console/signin", data={"csrf": csrf, "token": "guess"}
    )
    assert status == 400 and "not the admin credential" in page
    assert "roster_console" not in browser.cookies
    await browser.sign_in()
    status, page, headers = await browser.request("GET", "/console/tenants")
    assert status == 200 and "acme" in page
    assert (
        headers["Cache-Control"] == "no-store"
        and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    )


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    env: tuple[Browser, FakeBackend],
) -> None:
    browser, fake = env
    await browser.sign_in()
    status, page, _ = await browser.request(
        "POST", "/console/tenants", data={"slug": "evil", "mode": "jit"}
    )
    assert status == 403 and "security token" in page and "Reference:" in page
    status, page, _ = await browser.request(
        "POST", "/console/tenants", data={"slug": "evil", "mode": "jit", "csrf": "0" * 64}
    )
    assert status == 403
    assert fake.changes == [] and "evil" not in fake.tenants_


async def test_bad_input_is_explained_beside_the_form_and_changes_nothing(
    env: tuple[Browser, FakeBackend],
) -> None:
    browser, fake = env
    csrf = await browser.sign_in()
    for data, message in (
        ({"slug": "Not A Slug", "mode": "jit"}, "lower-case letters, digits and dashes"),
        ({"slug": "ok", "mode": "sometimes"}, "Choose a mode"),
        ({"slug": "acme", "mode": "jit"}, "already exists"),
    ):
        status, page, _ = await browser.request(
            "POST", "/console/tenants", data={**data, "csrf": csrf}
        )
        assert status == 400, page
        assert "Nothing was changed." in page and message in page
        assert 'value="' + data["slug"] + '"' in page  # the form keeps what was typed
    status, page, _ = await browser.request(
        "POST",
        "/console/tenants/acme/links",
        data={"csrf": csrf, "parts": "sso", "expires_in_hours": "9999"},
    )
    assert status == 400 and "1 to 720 hours" in page
    assert fake.changes == []


async def test_a_new_token_and_a_new_link_are_shown_once(
    env: tuple[Browser, FakeBackend],
) -> None:
    browser, fake = env
    csrf = await browser.sign_in()
    secret = "rst_" + "t" * 16 + "_" + "S" * 43
    # POST-redirect-GET: the page redirected to shows it once; a reload neither makes another
    # nor shows it again.
    status, page, headers = await browser.request(
        "POST", "/console/tenants/acme/tokens", data={"csrf": csrf, "label": "okta"}
    )
    assert status == 303 and headers["Location"] == "/console/tenants/acme" and secret not in page
    status, page, _ = await browser.request("GET", "/console/tenants/acme")
    assert status == 200 and secret in page and "Shown only this once" in page
    status, page, _ = await browser.request("GET", "/console/tenants/acme")
    assert status == 200 and secret not in page
    assert [c for c in fake.changes if c[0] == "token"] == [("token", "acme", "okta")]
    status, page, headers = await browser.request(
        "POST",
        "/console/tenants/acme/links",
        data={"csrf": csrf, "parts": ["sso", "scim"], "expires_in_hours": "48"},
    )
    assert status == 303 and headers["Location"] == "/console/tenants/acme" and LINK not in page
    _, page, _ = await browser.request("GET", "/console/tenants/acme")
    assert f"https://roster.example.com/setup/{LINK}" in page
    assert ("link", "acme", ("sso", "scim"), 48) in fake.changes
    _, page, _ = await browser.request("GET", "/console/tenants/acme")
    assert LINK not in page


async def test_tenant_page_shows_health_warning_and_unavailable_parts(
    env: tuple[Browser, FakeBackend],
) -> None:
    browser, _ = env
    await browser.sign_in()
    status, page, _ = await browser.request("GET", "/console/tenants/acme")
    assert status == 200
    assert "30% of requests failed over the last hour" in page  # 6 of 20, past the caution line
    assert "Unavailable: the reconciler&#39;s admin API is closed" in page
    assert "Within seconds to a few minutes" in page
    status, page, _ = await browser.request("GET", "/console/tenants/nobody")
    assert status == 404 and "no tenant" in page.lower()


async def test_portal_refuses_links_that_are_not_or_no_longer_valid(
    env: tuple[Browser, FakeBackend],
) -> None:
    browser, _ = env
    status, page, _ = await browser.request("GET", "/setup/" + "rsl_nope")
    assert status == 404 and "not valid" in page
    status, page, _ = await browser.request("GET", "/setup/" + GONE)
    assert status == 410 and "expired" in page


async def test_portal_guide_values_token_once_and_parts(env: tuple[Browser, FakeBackend]) -> None:
    browser, fake = env
    status, page, _ = await browser.request("GET", f"/setup/{LINK}?idp=okta")
    assert status == 200
    assert "https://roster.example.com/scim/v2/acme/" in page
    assert "Waiting for the first request" in page
    assert 'id="jit-unconfirmed">0<' in page  # the reconciler's runs are closed: no list
    assert "Recent reconciler runs" not in page
    assert "Provisioning (SCIM) from Okta" in page
    assert "Single sign-on with" not in page  # the link was made for SCIM only
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    status, page, _ = await browser.request(
        "POST", f"/setup/{LINK}/saml?idp=okta", data={"csrf": csrf.group(1), "metadata_xml": "<x/>"}
    )
    assert status == 400 and "not made for setting up SSO" in page
    status, page, _ = await browser.request(
        "POST",
        f"/setup/{LINK}/directory",
        data={"csrf": csrf.group(1), "kind": "graph", "token": "t"},
    )
    assert status == 400 and "not made for setting up DIRECTORY" in page
    assert fake.changes == []
    status, page, headers = await browser.request(
        "POST", f"/setup/{LINK}/scim-token?idp=okta", data={"csrf": csrf.group(1)}
    )
    assert status == 303 and headers["Location"] == f"/setup/{LINK}?idp=okta"
    status, page, _ = await browser.request("GET", headers["Location"])
    assert status == 200 and "rst_" + "t" * 16 in page and "A SCIM token was minted." in page
    fake.scim_log = [
        {
            "at": "2026-12-01T10:00:00+00:00",
            "route": "GET /Users",
            "status": 401,
            "reason": "the bearer token is not valid for this tenant",
            "reference": "abc123",
        }
    ]
    _, page, _ = await browser.request("GET", f"/setup/{LINK}?idp=okta")
    assert "Waiting for the first request" not in page
    assert "the token was refused" in page and "abc123" in page
    assert "rst_" + "t" * 16 not in page
    # Identical successes arrive as one run: the page says how many, from when to when.
    fake.scim_log.insert(
        0,
        {
            "at": "2026-12-01T10:00:02+00:00",
            "since": "2026-12-01T10:00:01+00:00",
            "count": 250,
            "route": "POST /Users",
            "status": 201,
            "reason": None,
            "reference": None,
        },
    )
    _, page, _ = await browser.request("GET", f"/setup/{LINK}?idp=okta")
    assert "2026-12-01 10:00:01 &ndash; 10:00:02" in page and "&times; 250" in page
    assert page.count("&times;") == 1  # a record of one answer shows no count


def test_the_console_will_not_start_without_its_secrets() -> None:
    with pytest.raises(ValueError, match="ROSTER_ADMIN_TOKEN"):
        create_app(ConsoleSettings(session_secret="s" * 32))
    with pytest.raises(ValueError, match="ROSTER_SESSION_SECRET"):
        create_app(ConsoleSettings(admin_token=ADMIN))


async def test_policy_form_refusals_and_a_saved_policy(env: tuple[Browser, FakeBackend]) -> None:
    browser, fake = env
    csrf = await browser.sign_in()
    form = {
        "csrf": csrf,
        "enabled": "on",
        "interval_minutes": "60",
        "inactivity_days": "off",
        "consecutive_misses": "2",
        "brake_share": "0.2",
        "brake_count": "100",
        "grace_days": "7",
    }
    status, page, _ = await browser.request(
        "POST", "/console/tenants/acme/policy", data={**form, "grace_days": "a week"}
    )
    assert status == 400 and "grace days: enter a number" in page
    status, page, _ = await browser.request(
        "POST", "/console/tenants/acme/policy", data={**form, "interval_minutes": "0"}
    )
    assert status == 400 and "Input should be &gt;= 1" in page
    assert fake.changes == []
    status, _, headers = await browser.request("POST", "/console/tenants/acme/policy", data=form)
    assert status == 303 and headers["Location"].endswith("?done=policy")
    (change,) = fake.changes
    assert change[2]["inactivity_days"] is None and change[2]["deactivate_unconfirmed"] is False


async def test_a_tampered_or_foreign_session_cookie_is_no_session(
    env: tuple[Browser, FakeBackend],
) -> None:
    browser, _ = env
    await browser.sign_in()
    good = browser.cookies["roster_console"]
    for bad in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "v1.xyz", ""):
        browser.cookies["roster_console"] = bad
        status, _, headers = await browser.request("GET", "/console/tenants")
        assert status == 303 and headers["Location"] == "/console/signin"
    # The form cookie, sealed for another purpose, does not open as a session either.
    browser.cookies["roster_console"] = browser.cookies["roster_form"]
    status, _, _ = await browser.request("GET", "/console/tenants")
    assert status == 303


async def test_held_run_shows_who_would_be_deactivated(env: tuple[Browser, FakeBackend]) -> None:
    browser, fake = env
    fake.runs_ = [
        {
            "id": "r" * 8,
            "status": "held",
            "dry_run": False,
            "trigger": "schedule",
            "started_at": "2026-12-01T10:00:00+00:00",
            "checked": {"users": 40},
            "published": 0,
            "actions": [
                {
                    "user_name": "leaver@example.com",
                    "action": "deactivate",
                    "reason": "missing from the directory",
                    "outcome": "held",
                }
            ],
            "brake": {"reason": "25 of 40 users (more than 20%)"},
        }
    ]
    await browser.sign_in()
    _, page, _ = await browser.request("GET", "/console/tenants/acme")
    assert "Would deactivate" in page and "leaver@example.com" in page
    assert "25 of 40 users" in page and f"/runs/{'r' * 8}/approve" in page
    _, page, _ = await browser.request("GET", f"/setup/{LINK}?idp=okta")
    assert "Recent reconciler runs" in page and "held: 0 changes made, 1 decision" in page
