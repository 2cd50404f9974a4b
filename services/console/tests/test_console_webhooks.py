"""The console's webhook pages, on a stand-in for the webhooks service's admin API.

The stand-in answers ``Backend.call`` for ``/webhooks/admin/...`` paths as the service does
(the shapes of ``webhooks.routes``) and records every change, so the tests assert what the page
says, that a secret appears exactly once, and that refused input changed nothing. The real API
behind these pages is exercised by ``tests/console/test_webhooks_browser.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from console.app import create_app
from console.backend import BackendError
from console.settings import ConsoleSettings
from console.webhooks import EVENT_TYPES
from test_console_pages import ADMIN, Browser, ClientFactory, FakeBackend

SECRET = "whsec_" + "A" * 43
ROTATED = "whsec_" + "B" * 43
EP = "e" * 26
PAGE = f"/console/tenants/acme/webhooks/{EP}"


class FakeWebhooks(FakeBackend):
    """:class:`FakeBackend` plus the webhooks admin API."""

    def __init__(self) -> None:
        super().__init__()
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.attempts: list[dict[str, Any]] = []

    def _endpoint(self, url: str, types: list[str] | None, status: str = "active") -> None:
        self.endpoints[EP] = {
            "id": EP,
            "url": url,
            "description": None,
            "event_types": types,
            "status": status,
            "paused_reason": "failing since 2026-12-01T09:00Z: HTTP 503"
            if status == "paused"
            else None,
            "paused_at": "2026-12-01T09:00:00+00:00" if status == "paused" else None,
            "created_at": "2026-12-01T08:00:00+00:00",
            "secrets": 1,
        }

    async def call(
        self, method: str, base: str, path: str, *, admin: bool, json: Any = None
    ) -> Any:
        assert base == self.urls.webhooks and admin
        match = re.fullmatch(
            r"/webhooks/admin/tenants/acme/endpoints(?:/(\w+))?(?:/(\w+))?(\?.*)?", path
        )
        if match is None:
            raise BackendError(404, "not_found", f"no route {path}")
        endpoint, action, _ = match.groups()
        if endpoint is None:
            if method == "GET":
                return {"endpoints": list(self.endpoints.values())}
            if "10.0.0.5" in json["url"]:  # as the SSRF guard refuses it
                raise BackendError(
                    400,
                    "unsafe_url",
                    f"{json['url']} is not allowed: 10.0.0.5 is a private address",
                )
            self.changes.append(("add", json))
            self._endpoint(json["url"], json["event_types"])
            return {"endpoint": self.endpoints[EP], "secret": SECRET}
        if endpoint not in self.endpoints:
            raise BackendError(404, "not_found", f"no webhook endpoint {endpoint!r}")
        if action is None and method == "DELETE":
            self.changes.append(("delete", json))
            del self.endpoints[endpoint]
            return {"deleted": endpoint, "dropped_deliveries": 0}
        if action is None:
            return self.endpoints[endpoint]
        if action == "attempts":
            return {"attempts": self.attempts}
        self.changes.append((action, json))
        if action == "rotate":
            self.endpoints[endpoint]["secrets"] = 2
            return {
                "endpoint": self.endpoints[endpoint],
                "secret": ROTATED,
                "previous_expires_at": "2026-12-02T08:00:00+00:00",
            }
        if action in ("pause", "resume"):
            self.endpoints[endpoint]["status"] = "paused" if action == "pause" else "active"
            self.endpoints[endpoint]["paused_reason"] = json["reason"] if json else None
            return self.endpoints[endpoint]
        if action == "replay":
            return {"replayed": 3}
        return {"event_id": "t" * 26}


@pytest.fixture
async def env(aiohttp_client: ClientFactory) -> tuple[Browser, FakeWebhooks]:
    fake = FakeWebhooks()
    settings = ConsoleSettings(
        admin_token=ADMIN, session_secret="s" * 32, public_url="https://roster.example.com"
    )
    client: TestClient = await aiohttp_client(create_app(settings, backend=fake))
    browser = Browser(client)
    await browser.sign_in()
    return browser, fake


async def test_tenant_page_links_to_webhooks(env: tuple[Browser, FakeWebhooks]) -> None:
    browser, _ = env
    _, page, _ = await browser.request("GET", "/console/tenants/acme")
    assert 'href="/console/tenants/acme/webhooks"' in page
    _, page, _ = await browser.request("GET", "/console/tenants/acme/webhooks")
    assert "No webhook endpoints yet" in page
    assert all(f'value="{t}"' in page for t in EVENT_TYPES) and "membership.removed" in EVENT_TYPES


async def test_add_shows_the_secret_once(env: tuple[Browser, FakeWebhooks]) -> None:
    browser, fake = env
    csrf = await browser.csrf("/console/tenants/acme/webhooks")
    status, page, headers = await browser.request(
        "POST",
        "/console/tenants/acme/webhooks",
        data={
            "csrf": csrf,
            "url": "https://app.example.com/hooks",
            "event_types": ["user.created", "user.deleted"],
        },
    )
    # POST-redirect-GET: the page the POST redirects to shows the secret; a reload repeats nothing.
    assert status == 303 and headers["Location"] == PAGE and SECRET not in page
    status, page, _ = await browser.request("GET", PAGE)
    assert status == 200 and SECRET in page and "Shown only this once" in page
    assert fake.changes == [
        (
            "add",
            {
                "url": "https://app.example.com/hooks",
                "description": None,
                "event_types": ["user.created", "user.deleted"],
            },
        )
    ]
    for path in (PAGE, "/console/tenants/acme/webhooks"):  # never again
        status, page, _ = await browser.request("GET", path)
        assert status == 200 and SECRET not in page and "app.example.com/hooks" in page
    assert "user.created, user.deleted" in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": ""}, "Enter the URL"),
        ({"url": "ftp://app.example.com"}, "must start with https://"),
        ({"url": "https://a.example/" + "x" * 2048}, "too long"),
        ({"url": "https://a.example", "event_types": "user.exploded"}, "Unknown event types"),
        ({"url": "https://10.0.0.5/hooks"}, "10.0.0.5 is a private address"),
    ],
)
async def test_bad_input_is_shown_and_changes_nothing(
    env: tuple[Browser, FakeWebhooks], form: dict[str, str], message: str
) -> None:
    browser, fake = env
    csrf = await browser.csrf("/console/tenants/acme/webhooks")
    status, page, _ = await browser.request(
        "POST", "/console/tenants/acme/webhooks", data={"csrf": csrf, **form}
    )
    assert status == 400 and message in page and "Nothing was changed" in page
    assert fake.changes == [] and fake.endpoints == {}
    assert "whsec_" not in page


async def test_form_without_csrf_changes_nothing(env: tuple[Browser, FakeWebhooks]) -> None:
    browser, fake = env
    fake._endpoint("https://app.example.com/hooks", None)
    for path, data in (
        ("/console/tenants/acme/webhooks", {"url": "https://b.example.com"}),
        (PAGE + "/rotate", {}),
        (PAGE + "/pause", {"reason": "x"}),
    ):
        status, page, _ = await browser.request("POST", path, data=data)
        assert status == 403 and "security token" in page
    assert fake.changes == []


async def test_paused_status_rotate_pause_resume_test(env: tuple[Browser, FakeWebhooks]) -> None:
    browser, fake = env
    fake._endpoint("https://app.example.com/hooks", None, status="paused")
    _, page, _ = await browser.request("GET", "/console/tenants/acme/webhooks")
    assert "failing since 2026-12-01T09:00Z: HTTP 503" in page
    csrf = await browser.csrf(PAGE)

    status, _, headers = await browser.request("POST", PAGE + "/resume", data={"csrf": csrf})
    assert status == 303 and headers["Location"] == PAGE + "?done=resumed"
    _, page, _ = await browser.request("GET", headers["Location"])
    assert "was resumed" in page and 'id="pause"' in page

    status, page, headers = await browser.request("POST", PAGE + "/rotate", data={"csrf": csrf})
    assert status == 303 and headers["Location"] == PAGE and ROTATED not in page
    status, page, _ = await browser.request("GET", PAGE)
    assert (
        status == 200
        and ROTATED in page
        and "keeps signing beside it until 2026-12-02 08:00" in page
    )
    _, page, _ = await browser.request("GET", PAGE)
    assert ROTATED not in page and "<dd>2</dd>" in page  # two live secrets, neither shown

    await browser.request("POST", PAGE + "/pause", data={"csrf": csrf, "reason": "maintenance"})
    _, page, _ = await browser.request("GET", PAGE)
    assert "maintenance" in page and 'id="resume"' in page
    status, _, headers = await browser.request("POST", PAGE + "/test", data={"csrf": csrf})
    assert status == 303 and headers["Location"] == PAGE + "?done=tested"
    assert [c[0] for c in fake.changes] == ["resume", "rotate", "pause", "test"]


async def test_replay_checks_the_range(env: tuple[Browser, FakeWebhooks]) -> None:
    browser, fake = env
    fake._endpoint("https://app.example.com/hooks", None)
    csrf = await browser.csrf(PAGE)
    for since, until, message in (
        ("yesterday", "", "From: enter a time as YYYY-MM-DD HH:MM"),
        ("2026-12-01 09:00", "2026-12-01 08:00", "Until must be after From"),
    ):
        status, page, _ = await browser.request(
            "POST", PAGE + "/replay", data={"csrf": csrf, "since": since, "until": until}
        )
        assert status == 400 and message in page and 'value="' + since + '"' in page
    assert fake.changes == []
    status, _, headers = await browser.request(
        "POST",
        PAGE + "/replay",
        data={"csrf": csrf, "since": "2026-12-01 09:00", "until": "2026-12-01T10:30"},
    )
    assert status == 303
    assert fake.changes == [
        ("replay", {"since": "2026-12-01T09:00:00+00:00", "until": "2026-12-01T10:30:00+00:00"})
    ]
    _, page, _ = await browser.request("GET", headers["Location"])
    assert "3 events queued for delivery again" in page


async def test_attempts_show_status_latency_response_and_next_retry(
    env: tuple[Browser, FakeWebhooks],
) -> None:
    browser, fake = env
    fake._endpoint("https://app.example.com/hooks", None)
    fake.attempts = [
        {
            "id": 2,
            "event_id": "v" * 26,
            "type": "user.created",
            "origin": "live",
            "attempted_at": "2026-12-01T09:00:05+00:00",
            "status_code": 503,
            "error": "HTTP 503",
            "latency_ms": 41,
            "response": "upstream busy",
            "delivery_status": "pending",
            "next_attempt_at": "2026-12-01T09:00:35+00:00",
        },
        {
            "id": 1,
            "event_id": "w" * 26,
            "type": "webhook.test",
            "origin": "test",
            "attempted_at": "2026-12-01T08:59:00+00:00",
            "status_code": 204,
            "error": None,
            "latency_ms": 12,
            "response": "",
            "delivery_status": "delivered",
            "next_attempt_at": None,
        },
    ]
    _, page, _ = await browser.request("GET", PAGE)
    for expected in ("503 — HTTP 503", "41 ms", "upstream busy", "2026-12-01 09:00:35", "204"):
        assert expected in page
    assert "delivered" in page


async def test_unknown_endpoint_is_a_404_page(env: tuple[Browser, FakeWebhooks]) -> None:
    browser, _ = env
    status, page, _ = await browser.request("GET", PAGE)
    assert status == 404 and "no such webhook endpoint" in page


async def test_a_secret_carried_to_its_page_is_shown_there_only_and_once(
    env: tuple[Browser, FakeWebhooks],
) -> None:
    """The sealed cookie that carries a new secret across the redirect opens only on the page
    it was made for, and only once: a forged or another page's value shows nothing."""
    browser, fake = env
    fake._endpoint("https://app.example.com/hooks", None)
    csrf = await browser.csrf(PAGE)
    await browser.request("POST", PAGE + "/rotate", data={"csrf": csrf})
    carried = browser.cookies["roster_shown"]
    _, page, _ = await browser.request("GET", "/console/tenants/acme/webhooks")
    assert ROTATED not in page  # the list page is not where it goes
    browser.cookies["roster_shown"] = carried[:-4] + "AAAA"  # tampered: does not open
    _, page, _ = await browser.request("GET", PAGE)
    assert ROTATED not in page and browser.cookies["roster_shown"] == ""
    browser.cookies["roster_shown"] = carried
    _, page, _ = await browser.request("GET", PAGE)
    assert ROTATED in page and browser.cookies["roster_shown"] == ""
    _, page, _ = await browser.request("GET", PAGE)
    assert ROTATED not in page
    assert [c[0] for c in fake.changes] == ["rotate"]


async def test_delete_removes_the_endpoint_and_redirects_to_the_list(
    env: tuple[Browser, FakeWebhooks],
) -> None:
    browser, fake = env
    fake._endpoint("https://app.example.com/hooks", None)
    csrf = await browser.csrf(PAGE)
    status, _, headers = await browser.request("POST", PAGE + "/delete", data={})
    assert status == 403 and EP in fake.endpoints  # no form token: nothing deleted
    status, _, headers = await browser.request("POST", PAGE + "/delete", data={"csrf": csrf})
    assert status == 303 and headers["Location"] == "/console/tenants/acme/webhooks?done=deleted"
    status, page, _ = await browser.request("GET", headers["Location"])
    assert status == 200 and "was deleted" in page and "No webhook endpoints yet" in page
    assert fake.changes == [("delete", None)] and fake.endpoints == {}
    status, page, _ = await browser.request("POST", PAGE + "/delete", data={"csrf": csrf})
    assert status == 404 and "no such webhook endpoint" in page.lower()
