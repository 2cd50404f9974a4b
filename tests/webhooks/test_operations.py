"""Webhook operations through the CLI and the admin API: replay of a time range, a test event,
secret rotation with two live secrets, deleting an endpoint, and the SSRF guard's refusals, each
with its reason."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from roster_cli.main import main
from user_store.webhooks.tables import attempts, deliveries, events

from tests.downstream.mirror import scim_create
from tests.webhooks.stack import HookStack, Receiver


async def roster(stack: HookStack, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = await asyncio.to_thread(
        main, [*argv, "--url", stack.url, f"--admin-token={stack.admin_token}", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


async def test_replay_of_a_time_range_and_a_test_event_by_the_cli(
    stack: HookStack, hooks: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = await stack.tenant("acme")
    made = await roster(stack, capsys, "webhook", "add", "acme", hooks.url("ok", "r"))
    endpoint, secret = made["endpoint"]["id"], made["secret"]
    await hooks.trust("r", secret)
    await scim_create(acme, "early")
    first = await hooks.wait("r", 1)
    middle = datetime.now(UTC)
    for name in ("late1", "late2"):
        await scim_create(acme, name)
    delivered = await hooks.wait("r", 3)
    replayed = await roster(
        stack, capsys, "webhook", "replay", "acme", endpoint, "--from", middle.isoformat()
    )
    assert replayed == {"replayed": 2}
    messages = await hooks.wait("r", 5)
    again = messages[3:]
    assert [m["event_id"] for m in again] == [m["event_id"] for m in delivered[1:3]]
    assert first[0]["event_id"] not in {m["event_id"] for m in again}
    assert all(m["verified"] for m in again)

    queued = await roster(stack, capsys, "webhook", "test", "acme", endpoint)
    messages = await hooks.wait("r", 6)
    assert messages[-1]["type"] == "webhook.test" and messages[-1]["verified"]
    assert messages[-1]["event_id"] == queued["event_id"]

    listed = await roster(stack, capsys, "webhook", "list", "acme")
    assert [(e["id"], e["status"], e["pending"]) for e in listed["endpoints"]] == [
        (endpoint, "active", 0)
    ]
    attempts = await roster(stack, capsys, "webhook", "attempts", "acme", endpoint)
    while len(attempts["attempts"]) < 6:  # recorded once the receiver has answered
        await asyncio.sleep(0.05)
        attempts = await roster(stack, capsys, "webhook", "attempts", "acme", endpoint)
    assert len(attempts["attempts"]) == 6
    assert {a["origin"].split(":")[0] for a in attempts["attempts"]} == {"live", "replay", "test"}


async def test_rotation_signs_with_both_secrets_until_the_old_one_expires(
    stack: HookStack, hooks: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = await stack.tenant("acme")
    endpoint, old = await stack.endpoint(acme, hooks.url("ok", "rot"))
    await hooks.trust("rot", old)
    await scim_create(acme, "before")
    await hooks.wait("rot", 1)
    rotated = await roster(stack, capsys, "webhook", "rotate", "acme", endpoint)
    new = rotated["secret"]
    assert new != old and new.startswith("whsec_")
    # A receiver that already switched to the new secret verifies...
    await hooks.trust("rot", new)
    await scim_create(acme, "after1")
    messages = await hooks.wait("rot", 2)
    assert messages[-1]["verified"] and messages[-1]["signatures"] == 2
    # ...and so does one still holding the old one, during the overlap.
    await hooks.trust("rot", old)
    await scim_create(acme, "after2")
    messages = await hooks.wait("rot", 3)
    assert messages[-1]["verified"] and messages[-1]["signatures"] == 2
    # A stranger's secret verifies nothing: the receiver answers 401, and it is retried.
    await hooks.trust("rot", "whsec_" + "A" * 43 + "=")
    await scim_create(acme, "after3")
    while not any(m["status"] == 401 for m in (await hooks.log("rot"))["messages"]):
        await asyncio.sleep(0.1)
    shown = await stack.show(acme, endpoint)
    assert shown["secrets"] == 2 and "whsec_" not in json.dumps(shown)  # never shown again


async def test_registration_refuses_urls_that_could_reach_inside(stack: HookStack) -> None:
    await stack.tenant("acme")
    for url, why in [
        ("https://10.0.0.5/hook", "private address (10.0.0.5)"),
        ("https://169.254.169.254/latest/meta-data", "link-local address"),
        ("http://93.184.216.34/hook", "plain http is allowed only to loopback"),
        ("https://user:pw@127.0.0.1/hook", "credentials in the URL"),
        ("file:///etc/passwd", "only https URLs are allowed, not file"),
    ]:
        status, body = await stack.admin("POST", "acme/endpoints", {"url": url})
        assert status == 400 and body["error"] == "unsafe_url", body
        assert why in body["detail"], (url, body)
    status, body = await stack.admin("GET", "acme/endpoints")
    assert body["endpoints"] == []


async def test_a_redirect_to_a_private_address_is_not_followed_and_pauses(
    stack: HookStack, hooks: Receiver
) -> None:
    acme = await stack.tenant("acme")
    target = "https://10.0.0.5/internal"
    endpoint, secret = await stack.endpoint(acme, hooks.url("redirect", "x", f"to={target}"))
    await hooks.trust("x", secret)
    await scim_create(acme, "zed")
    while (await stack.show(acme, endpoint))["status"] != "paused":
        await asyncio.sleep(0.1)
    shown = await stack.show(acme, endpoint)
    assert "refused destination" in shown["paused_reason"]
    assert "private address (10.0.0.5)" in shown["paused_reason"]
    attempts = await stack.attempts(acme, endpoint)
    assert len(attempts) == 1  # refused once, paused: retrying cannot make it safe
    assert attempts[0]["error"] == (
        f"refused (redirected to {target}): 10.0.0.5 is a private address (10.0.0.5)"
    )
    assert shown["pending"] == 1  # kept for when the admin fixes the receiver


async def test_an_oversize_response_is_a_failed_attempt_and_retried(
    stack: HookStack, hooks: Receiver
) -> None:
    acme = await stack.tenant("acme")
    endpoint, secret = await stack.endpoint(acme, hooks.url("big", "b"))
    await hooks.trust("b", secret)
    await scim_create(acme, "large")
    while len(await stack.attempts(acme, endpoint)) < 2:
        await asyncio.sleep(0.1)
    attempts = await stack.attempts(acme, endpoint)
    # max_response_bytes is 4096 in these tests; the receiver answers 200 KiB.
    assert attempts[0]["error"] == "response larger than 4096 bytes: not read"
    assert attempts[0]["status_code"] is None
    assert (await stack.show(acme, endpoint))["pending"] == 1


async def test_delete_takes_the_endpoint_its_deliveries_and_attempts_and_nothing_else(
    stack: HookStack, hooks: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = await stack.tenant("acme")
    await stack.tenant("other")
    kept, kept_secret = await stack.endpoint(acme, hooks.url("ok", "kept"))
    gone, gone_secret = await stack.endpoint(acme, hooks.url("ok", "gone"))
    await hooks.trust("kept", kept_secret)
    await hooks.trust("gone", gone_secret)
    await scim_create(acme, "first")
    await hooks.wait("gone", 1)
    while not await stack.attempts(acme, gone):  # recorded once the receiver has answered
        await asyncio.sleep(0.05)
    # Paused, so the next event's delivery to it is pending when it is deleted.
    status, _ = await stack.admin("POST", f"acme/endpoints/{gone}/pause", {"reason": "going"})
    assert status == 200
    await scim_create(acme, "second")
    await hooks.wait("kept", 2)
    while (await stack.show(acme, gone))["pending"] != 1:
        await asyncio.sleep(0.05)

    # Another tenant's admin path does not reach it.
    status, body = await stack.admin("DELETE", f"other/endpoints/{gone}")
    assert status == 404 and "no webhook endpoint" in body["detail"], body
    deleted = await roster(stack, capsys, "webhook", "delete", "acme", gone)
    assert deleted == {"deleted": gone, "dropped_deliveries": 1}
    status, body = await stack.admin("GET", f"acme/endpoints/{gone}")
    assert status == 404, body
    status, body = await stack.admin("DELETE", f"acme/endpoints/{gone}")
    assert status == 404, body
    listed = await roster(stack, capsys, "webhook", "list", "acme")
    assert [e["id"] for e in listed["endpoints"]] == [kept]

    async with stack.sessions() as session:
        left = [
            (await session.execute(sa.select(sa.func.count()).where(where))).scalar_one()
            for where in (deliveries.c.endpoint_id == gone, attempts.c.endpoint_id == gone)
        ]
        events_kept = (await session.execute(sa.select(sa.func.count(events.c.seq)))).scalar()
    assert left == [0, 0]
    assert events_kept == 2  # the events stay: the other endpoint's deliveries refer to them

    await scim_create(acme, "third")  # the endpoint left is served as before
    assert [m["verified"] for m in await hooks.wait("kept", 3)] == [True] * 3
    assert len((await hooks.log("gone"))["messages"]) == 1  # "third" went to the other only
