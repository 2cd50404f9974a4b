"""The webhooks service's rules without I/O: signatures a `standardwebhooks` receiver accepts,
the SSRF guard's refusals and their reasons, backoff with jitter and Retry-After, and what an
event's ordering key is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from roster_shared.bus.base import Message
from standardwebhooks import Webhook, WebhookVerificationError
from webhooks import signing
from webhooks.consumer import ordering_key, to_record
from webhooks.retry import RetryPolicy
from webhooks.sender import retry_after
from webhooks.settings import WebhooksSettings
from webhooks.ssrf import Guard, Refused, Resolve


def test_a_signed_message_verifies_with_the_standardwebhooks_package() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    body = b'{"type":"user.created"}'
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers([secret], "evt-1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "user.created"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = b"{}"
    headers = signing.headers([old, new], "evt-2", int(datetime.now(UTC).timestamp()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


def _dns(table: dict[str, list[str]]) -> Resolve:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "addresses", "why"),
    [
        ("http://hooks.example.com/x", ["93.184.216.34"], "only https"),
        ("ftp://hooks.example.com/x", ["93.184.216.34"], "only https URLs are allowed, not ftp"),
        ("https://user:pw@hooks.example.com/", ["93.184.216.34"], "credentials"),
        ("https://hooks.example.com/x", ["10.0.0.5"], "private address (10.0.0.5)"),
        ("https://hooks.example.com/x", ["93.184.216.34", "192.168.1.9"], "private address"),
        ("https://hooks.example.com/x", ["169.254.169.254"], "link-local address"),
        ("https://hooks.example.com/x", ["127.0.0.1"], "loopback address"),
        ("https://hooks.example.com/x", ["100.64.0.1"], "not a public address"),
        ("https://hooks.example.com/x", ["::ffff:10.1.2.3"], "private address (10.1.2.3)"),
        ("https://[fe80::1]/x", [], "link-local address"),
        ("https://10.9.8.7/x", [], "private address"),
    ],
)
async def test_the_guard_refuses_what_could_reach_inside_saying_why(
    url: str, addresses: list[str], why: str
) -> None:
    guard = Guard(resolve=_dns({"hooks.example.com": addresses}))
    with pytest.raises(Refused, match=why.replace("(", r"\(").replace(")", r"\)")):
        await guard.check(url)


async def test_loopback_over_http_only_with_the_development_setting() -> None:
    dns = _dns({"localhost": ["127.0.0.1"], "hooks.example.com": ["10.0.0.5"]})
    guard = Guard(allow_loopback=True, resolve=dns)
    await guard.check("http://127.0.0.1:9999/hook")
    await guard.check("http://localhost:9999/hook")
    with pytest.raises(Refused, match="private address"):
        await guard.check("https://hooks.example.com/")
    with pytest.raises(Refused, match="plain http is allowed only to loopback"):
        await guard.check("http://93.184.216.34/")


def test_backoff_doubles_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=10, cap=3600, retry_for=3 * 86_400)
    waits = [policy.delay(n) for n in range(1, 6)]
    for n, wait in enumerate(waits, start=1):
        assert 0.8 * 10 * 2 ** (n - 1) <= wait <= 1.2 * 10 * 2 ** (n - 1)
    assert policy.delay(30) <= 3600 * 1.2
    assert policy.delay(1, retry_after=120) >= 120
    assert policy.delay(1, retry_after=7200) >= 7200  # asked for more than the cap: honoured
    assert policy.delay(1, retry_after=10**9) <= 86_400  # but not beyond a day


def test_retries_last_three_days_then_the_endpoint_pauses() -> None:
    policy = RetryPolicy()
    first = datetime(2026, 12, 1, tzinfo=UTC)
    moment, attempts = first, 0
    while True:
        attempts += 1
        following = policy.next_attempt(attempts, first, moment)
        if following is None:
            break
        moment = following
    assert moment - first >= timedelta(days=3)
    assert attempts >= 15


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert retry_after("7") == 7.0
    assert retry_after("Fri, 04 Dec 2026 12:00:30 GMT", now) == 30.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_a_user_s_events_share_one_ordering_key() -> None:
    user = {"tenant_id": "t", "data": {"user": {"id": "u1"}}}
    membership = {"tenant_id": "t", "data": {"user_id": "u1", "group_id": "g1"}}
    group = {"tenant_id": "t", "data": {"group": {"id": "g1"}}}
    assert ordering_key(user) == ordering_key(membership) == "user:u1"
    assert ordering_key(group) == "group:g1"


def test_a_message_that_is_no_event_is_skipped() -> None:
    def message(value: bytes) -> Message:
        return Message(topic="t", partition=0, offset=1, key="k", value=value)

    assert to_record(message(b"not json")) is None
    assert to_record(message(b'{"type": "user.created"}')) is None
    event = {
        "event_id": "e",
        "tenant_id": "t",
        "type": "user.created",
        "occurred_at": "2026-12-04T12:00:00+00:00",
        "data": {"user": {"id": "u"}},
    }
    record = to_record(message(json.dumps(event).encode()))
    assert record is not None and record["ordering_key"] == "user:u"


def test_retentions_must_outlast_the_retry_window() -> None:
    key = Fernet.generate_key().decode()
    settings = WebhooksSettings(webhook_key=key)
    assert settings.delivery_retention > settings.retry_for  # 14 days > 3 days
    with pytest.raises(ValidationError, match="delivery_retention must exceed retry_for"):
        WebhooksSettings(webhook_key=key, delivery_retention=86_400.0)
    with pytest.raises(ValidationError, match="event_retention must be at least"):
        WebhooksSettings(webhook_key=key, event_retention=5 * 86_400.0)
