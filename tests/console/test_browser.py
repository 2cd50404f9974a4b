"""The console and the setup portal in a real browser (headless Chromium, Selenium).

The operator signs in, creates a tenant and a setup link. The customer's IT admin — another
browser session, no account — opens the link, follows the Okta guide, uploads the metadata of a
test IdP (pysaml2), runs Test sign-in through it (and the user-store is shown to have created
nobody), mints a SCIM token, and watches the first SCIM request appear. A revoked and an expired
link are refused; a form without its CSRF token is refused and changes nothing. Once on Kafka
and PostgreSQL with the console as its own application, once on ``roster dev``.
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
from aiohttp.test_utils import TestServer
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.console.browser import chromium, screenshot, text, wait_for
from tests.console.idp_app import IdpFront
from tests.console.stacks import KINDS, Stack, stack_of
from tests.sso.saml_idp import SamlIdP

PERSON = "jane@example.com"
ATTRIBUTES = {"email": [PERSON], "firstName": ["Jane"], "lastName": ["Doe"], "groups": ["eng"]}


@pytest.fixture(params=KINDS)
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_of(request.param, request, tmp_path, "console-test") as opened:
        yield opened


@pytest.fixture
async def idp_front() -> AsyncIterator[tuple[IdpFront, str]]:
    front = IdpFront(PERSON, ATTRIBUTES)
    server = TestServer(front.app())
    await server.start_server()
    yield front, str(server.make_url("")).rstrip("/")
    await server.close()


def http(url: str, *, method: str = "GET", token: str | None = None, body: Any = None) -> Any:
    request = urllib.request.Request(url, method=method)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/scim+json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, data=data, timeout=30) as response:
        return response.status, response.read().decode()


def value(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).get_attribute("value"))


def click(driver: WebDriver, element: Any) -> None:
    """Click, then wait until the browser has left the page (the next one is loading)."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def left(_driver: WebDriver) -> bool:
        try:
            page.is_enabled()
        except WebDriverException:  # stale, or "does not belong to the document" mid-load
            return True
        return False

    WebDriverWait(driver, 30).until(left)


def submit(driver: WebDriver, form_id: str) -> None:
    click(driver, driver.find_element(By.CSS_SELECTOR, f"#{form_id} button"))


def operator_signs_in(driver: WebDriver, stack: Stack) -> None:
    driver.get(stack.console + "/console/tenants")
    assert driver.current_url.endswith("/console/signin")  # no session: the sign-in form
    field = driver.find_element(By.NAME, "token")
    field.send_keys("not the credential")
    click(driver, driver.find_element(By.CSS_SELECTOR, "main form button"))
    assert "not the admin credential" in text(driver)
    driver.find_element(By.NAME, "token").send_keys(stack.admin)
    click(driver, driver.find_element(By.CSS_SELECTOR, "main form button"))
    wait_for(lambda: driver.current_url.endswith("/console/tenants"), "the tenants page")


def flow(driver: WebDriver, stack: Stack, front: IdpFront, idp_base: str, tmp: Path) -> None:
    slug = f"acme-{uuid.uuid4().hex[:6]}"

    # -- the operator: sign in, a bad tenant name (refused, nothing made), the tenant, a link --
    operator_signs_in(driver, stack)
    driver.find_element(By.NAME, "slug").send_keys("Acme Corp!")
    submit(driver, "create-tenant")
    assert "Nothing was changed." in text(driver) and "lower-case letters" in text(driver)
    assert "Acme Corp!" not in driver.find_element(By.TAG_NAME, "table").text
    slug_field = driver.find_element(By.NAME, "slug")
    slug_field.clear()
    slug_field.send_keys(slug)
    driver.find_element(By.NAME, "display_name").send_keys("Acme Corp")
    submit(driver, "create-tenant")
    wait_for(lambda: driver.current_url.endswith(f"/console/tenants/{slug}"), "the tenant page")
    assert "Worst-case access-removal delay" in text(driver)
    submit(driver, "create-link")
    link = value(driver, "link-value")
    assert re.fullmatch(rf"{re.escape(stack.console)}/setup/rsl_\w{{16}}_[\w-]{{43}}", link), link
    link_id = link.rsplit("/", 1)[1].split("_")[1]
    screenshot(driver, "console-tenant-new-link")
    driver.get(stack.console + f"/console/tenants/{slug}")
    assert link not in driver.page_source  # shown once

    # -- the customer's IT admin: another browser session, only the link --------------------
    driver.delete_all_cookies()
    driver.get(link)
    assert "Set up single sign-on and provisioning for Acme Corp" in text(driver)
    click(driver, driver.find_element(By.ID, "idp-okta"))
    entity_id, acs = value(driver, "entity-id"), value(driver, "acs-url")
    assert entity_id == f"{stack.public}/sso/{slug}/saml/metadata"
    assert acs == f"{stack.public}/sso/{slug}/saml/acs"
    assert value(driver, "scim-base") == f"{stack.public}/scim/v2/{slug}/"
    assert "Audience URI (SP Entity ID)" in text(driver)  # the Okta guide's own field names

    # The IdP is configured with our SP metadata, as the guide says; its metadata comes back.
    _, sp_metadata = http(f"{stack.public}/sso/{slug}/saml/metadata")
    front.idp = SamlIdP(
        tmp / "idp",
        [sp_metadata],
        entity_id=f"{idp_base}/saml",
        sso_url=f"{idp_base}/sso",
    )
    metadata_file = tmp / "idp-metadata.xml"
    metadata_file.write_text(front.idp.metadata())
    # Bad input first: an empty form is explained, nothing connected.
    submit(driver, "saml-form")
    assert "Upload your IdP's metadata file" in text(driver)
    assert "Test sign-in" in text(driver) and "Connect your IdP first" in text(driver)
    driver.find_element(By.NAME, "metadata_file").send_keys(str(metadata_file))
    submit(driver, "saml-form")
    assert "Your SAML identity provider is connected" in text(driver), text(driver)
    screenshot(driver, "portal-okta-guide")

    # Test sign-in: through the IdP and back, a verdict, and no account made.
    click(driver, driver.find_element(By.ID, "test-signin"))
    wait_for(lambda: "Test IdP" in driver.title, "the IdP's page")
    click(driver, driver.find_element(By.ID, "idp-continue"))
    wait_for(lambda: "Test sign-in" in driver.title, "the Test sign-in result")
    page = text(driver)
    assert PERSON in page and "firstName" in page and "eng" in page
    assert "Would sign in: a new account" in driver.find_element(By.ID, "verdict").text
    assert "Nothing was created or changed" in page
    assert "roster_session" not in {c["name"] for c in driver.get_cookies()}
    screenshot(driver, "portal-test-sign-in")

    # SCIM: mint a token (shown once), then the first request appears in the SCIM check.
    driver.get(link + "?idp=okta")
    assert "Waiting for the first request" in text(driver)
    submit(driver, "token-form")
    token = value(driver, "token-value")
    assert token.startswith("rst_")
    status, _ = http(
        f"{stack.public}/scim/v2/{slug}/Users",
        method="POST",
        token=token,
        body={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": PERSON,
            "externalId": "00u-jane",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "active": True,
        },
    )
    assert status == 201

    def first_request_shown() -> bool:
        driver.get(link + "?idp=okta")
        return "POST /Users" in driver.find_element(By.ID, "scim-check").text

    wait_for(first_request_shown, "the first SCIM request in the SCIM check")
    assert token not in driver.page_source  # the token is not shown again
    screenshot(driver, "portal-scim-check")

    # A form without its CSRF token: refused, and no token minted.
    driver.execute_script("document.querySelector('#token-form input[name=csrf]').remove()")
    submit(driver, "token-form")
    assert "Form refused" in text(driver) and "nothing was changed" in text(driver)
    assert "rst_" not in driver.page_source

    # -- the operator again: the user SCIM made, then the link revoked, another one expired --
    driver.delete_all_cookies()
    operator_signs_in(driver, stack)
    driver.get(stack.console + f"/console/tenants/{slug}/users?filter=userName+eq+%22{PERSON}%22")
    assert "1 user." in text(driver) and "scim" in text(driver)
    driver.get(stack.console + f"/console/tenants/{slug}")
    assert "POST /Users" in text(driver)
    screenshot(driver, "console-tenant")
    click(
        driver,
        driver.find_element(By.CSS_SELECTOR, f"form[action$='/links/{link_id}/revoke'] button"),
    )
    assert "The setup link was revoked" in text(driver)
    submit(driver, "create-link")
    expiring = value(driver, "link-value")
    driver.get(stack.console + "/console/tenants")
    screenshot(driver, "console-tenants")

    driver.delete_all_cookies()
    driver.get(link)
    assert "This setup link cannot be used" in text(driver) and "revoked" in text(driver)
    stack.expire(expiring.rsplit("/", 1)[1].split("_")[1])
    driver.get(expiring)
    assert "This setup link cannot be used" in text(driver) and "expired" in text(driver)


async def test_operator_and_customer_admin_in_a_browser(
    stack: Stack, idp_front: tuple[IdpFront, str], tmp_path: Path
) -> None:
    front, idp_base = idp_front
    driver = await asyncio.to_thread(chromium)
    try:
        # Selenium blocks: it runs in a thread while this loop serves Roster and the IdP.
        await asyncio.to_thread(flow, driver, stack, front, idp_base, tmp_path)
    finally:
        await asyncio.to_thread(driver.quit)
