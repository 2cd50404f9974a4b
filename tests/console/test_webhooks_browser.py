"""A tenant's webhooks in the console, in a real browser, against the real webhooks service.

The operator registers an endpoint pointing at a receiver on this machine that verifies every
message with the ``standardwebhooks`` package (with the secret the page showed, once). A URL to
a private address is refused on the page and registers nothing. The operator sends a test event,
the receiver gets it signed, and the attempt appears on the page; pausing shows the reason,
resuming clears it, rotating shows a second secret once (two live secrets). Once on Kafka and
PostgreSQL with the console as its own application, once on ``roster dev``.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from standardwebhooks import Webhook, WebhookVerificationError

from tests.console.browser import chromium, screenshot, text, wait_for
from tests.console.stacks import KINDS, Stack, stack_of
from tests.console.test_browser import click, operator_signs_in, submit, value


class Receiver:
    """Answers 204 to a message that verifies under ``secret``, 401 otherwise."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict[str, Any]] = []

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
            verified = True
        except WebhookVerificationError:
            verified = False
        message = json.loads(body)
        self.received.append({"type": message["type"], "id": message["event_id"], "ok": verified})
        return web.Response(status=204 if verified else 401)


@pytest.fixture(params=KINDS)
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_of(request.param, request, tmp_path, "console-hooks") as opened:
        yield opened


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", found.hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield found, str(server.make_url("/hooks"))
    await server.close()


def flow(driver: WebDriver, stack: Stack, receiver: Receiver, hook_url: str) -> None:
    slug = f"hooks-{uuid.uuid4().hex[:6]}"
    operator_signs_in(driver, stack)
    driver.find_element(By.NAME, "slug").send_keys(slug)
    submit(driver, "create-tenant")
    wait_for(lambda: driver.current_url.endswith(f"/console/tenants/{slug}"), "the tenant page")
    click(driver, driver.find_element(By.LINK_TEXT, "Webhooks"))
    assert "No webhook endpoints yet" in text(driver)

    # A private address: refused with the guard's reason, nothing registered.
    driver.find_element(By.NAME, "url").send_keys("https://10.0.0.5/hooks")
    submit(driver, "add-endpoint")
    assert "Nothing was changed." in text(driver) and "private address" in text(driver)
    assert "No webhook endpoints yet" in text(driver)

    field = driver.find_element(By.NAME, "url")
    field.clear()
    field.send_keys(hook_url)
    driver.find_element(By.CSS_SELECTOR, "input[value='user.created']").click()
    submit(driver, "add-endpoint")
    secret = value(driver, "secret-value")
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", secret), secret
    receiver.secret = secret
    action = driver.find_element(By.ID, "send-test").get_attribute("action") or ""
    assert action.endswith("/test"), action
    here = action.removesuffix("/test")
    assert "user.created" in text(driver)  # the one type chosen
    # POST-redirect-GET: a reload asks for the page again, and neither registers the endpoint
    # a second time nor shows the secret again.
    driver.refresh()
    assert secret not in driver.page_source and "Shown only this once" not in text(driver)
    assert [e["url"] for e in endpoints(stack, slug)] == [hook_url]

    submit(driver, "send-test")
    assert "webhook.test event was queued" in text(driver)
    wait_for(lambda: bool(receiver.received), "the test event at the receiver", timeout=60)
    assert receiver.received[0]["type"] == "webhook.test" and receiver.received[0]["ok"]

    def attempt_shown() -> bool:
        driver.get(here)
        return "webhook.test" in driver.find_element(By.ID, "attempts").text

    wait_for(attempt_shown, "the attempt on the page", timeout=60)
    row = driver.find_element(By.CSS_SELECTOR, "#attempts tbody tr").text
    assert "204" in row and " ms" in row and "test" in row and receiver.received[0]["id"] in row
    assert secret not in driver.page_source  # shown once, on the page that made it
    screenshot(driver, "console-webhooks")

    driver.find_element(By.NAME, "reason").send_keys("receiver under maintenance")
    submit(driver, "pause")
    assert "paused" in driver.find_element(By.ID, "endpoint-status").text
    assert "receiver under maintenance" in text(driver)
    driver.get(here.rsplit("/", 1)[0])
    assert "paused: receiver under maintenance" in driver.find_element(By.ID, "endpoints").text
    driver.get(here)
    submit(driver, "resume")
    assert driver.find_element(By.ID, "endpoint-status").text == "active"

    submit(driver, "rotate")
    rotated = value(driver, "secret-value")
    assert rotated.startswith("whsec_") and rotated != secret and "previous secret" in text(driver)
    driver.get(here)
    assert rotated not in driver.page_source and secret not in driver.page_source

    # Delete: back on the list, the endpoint gone from the webhooks service too.
    submit(driver, "delete")
    assert "The endpoint was deleted" in text(driver) and "No webhook endpoints yet" in text(driver)
    assert endpoints(stack, slug) == []
    driver.get(here)
    assert "There is no such webhook endpoint" in text(driver)


def endpoints(stack: Stack, slug: str) -> list[dict[str, Any]]:
    """The tenant's endpoints, as the webhooks service's admin API lists them."""
    url = f"{stack.public}/webhooks/admin/tenants/{slug}/endpoints"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {stack.admin}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return list(json.loads(response.read())["endpoints"])


async def test_operator_manages_webhooks_in_a_browser(
    stack: Stack, receiver: tuple[Receiver, str]
) -> None:
    found, url = receiver
    driver = await asyncio.to_thread(chromium)
    try:
        await asyncio.to_thread(flow, driver, stack, found, url)
    finally:
        await asyncio.to_thread(driver.quit)
