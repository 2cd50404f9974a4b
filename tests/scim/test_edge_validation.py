"""Validation at the edge (issue 12): a SCIM write whose values the database could not store is
the client's 400 ``invalidValue`` naming the attribute, and nothing reaches ``roster.ingest``.

The absence is observed, not slept on: a reader of the ingest topic collects everything, a valid
marker request follows the refused ones, and once the marker's event has arrived (per-key order)
the refused requests would have arrived before it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any

from roster_shared.bus.base import Message

from tests.scim.stack import ScimStack, Tenant
from tests.scim.test_bad_input import PATCH, USER, assert_scim_error

LONG = "x" * 600


class IngestReader:
    """Every event published on the ingest topic, decoded."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, messages: Sequence[Message]) -> None:
        self.events.extend(json.loads(m.value) for m in messages if m.value)
        self.arrived.set()

    async def until_user(self, user_name: str) -> None:
        async with asyncio.timeout(30):
            while not any(self._name(e) == user_name for e in self.events):
                self.arrived.clear()
                await self.arrived.wait()

    @staticmethod
    def _name(event: dict[str, Any]) -> str | None:
        attributes = event.get("data", {}).get("attributes") or {}
        return attributes.get("user_name")


async def test_unstorable_values_are_400_and_never_published(
    stack: ScimStack, acme: Tenant
) -> None:
    reader = IngestReader()
    subscription = stack.bus.subscribe(
        f"edge-{uuid.uuid4().hex[:8]}", [stack.topics.ingest], reader
    )
    await subscription.start()
    try:
        status, created, _ = await acme.request(
            "POST", "/Users", json={"schemas": [USER], "userName": "kim@example.com"}
        )
        assert status == 201, created
        user_id = created["id"]

        refusals: list[tuple[str, str, dict[str, Any], str]] = [
            ("POST", "/Users", {"schemas": [USER], "userName": "a\u0000b@example.com"}, "userName"),
            ("POST", "/Users", {"schemas": [USER], "userName": LONG}, "userName"),
            (
                "POST",
                "/Users",
                {"schemas": [USER], "userName": "ok@example.com", "externalId": "e\u0000"},
                "externalId",
            ),
            (
                "POST",
                "/Users",
                {"schemas": [USER], "userName": "ok@example.com", "title": "boss\u0000"},
                "title",
            ),
            (
                "PUT",
                f"/Users/{user_id}",
                {"schemas": [USER], "userName": "kim@example.com", "displayName": LONG},
                "displayName",
            ),
            (
                "PATCH",
                f"/Users/{user_id}",
                {
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "userName", "value": "k\u0000"}],
                },
                "userName",
            ),
            (
                "PATCH",
                f"/Users/{user_id}",
                {
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "name.givenName", "value": LONG}],
                },
                "name.givenName",
            ),
        ]
        for method, path, body, attribute in refusals:
            status, error, _ = await acme.request(method, path, json=body)
            assert_scim_error(status, error, 400, "invalidValue", attribute)
            assert "U+0000" in error["detail"] or "at most" in error["detail"], error

        # The marker: a valid create of the same tenant (same key, same partition) after them.
        status, marker, _ = await acme.request(
            "POST", "/Users", json={"schemas": [USER], "userName": "marker@example.com"}
        )
        assert status == 201, marker
        await reader.until_user("marker@example.com")
    finally:
        await subscription.stop()
    published = [IngestReader._name(e) for e in reader.events]
    assert published == ["kim@example.com", "marker@example.com"], published


async def test_an_unusable_request_id_is_replaced_not_refused(acme: Tenant) -> None:
    status, body, _ = await acme.request(
        "POST",
        "/Users",
        json={"schemas": [USER], "userName": "rid@example.com"},
        headers={"X-Request-Id": "x" * 200},
    )
    assert status == 201, body
