"""The webhooks service's calls to the user-store's internal API (it never writes the database):
endpoints per tenant, consumed events, claims of due deliveries, attempts."""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from typing import Any

import aiohttp
from roster_shared.ids import UnsafeSegment, internal_path, internal_url
from roster_shared.internal_http import InternalHttpClient

from webhooks.errors import Invalid, NotFound, StoreError


class WebhookStore(InternalHttpClient):
    """HTTP client of ``/internal/webhooks`` and ``/internal/tenants/{ref}/webhooks``."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 20.0) -> None:
        super().__init__(base_url, token=token, timeout=timeout)

    async def _call(
        self, method: str, segments: tuple[str, ...], *, json: Any = None, params: Any = None
    ) -> Any:
        session = self.session()
        try:
            path = internal_path(*segments)
        except UnsafeSegment as exc:
            raise NotFound(str(exc)) from exc
        try:
            async with session.request(
                method, internal_url(self._base, path), json=json, params=params
            ) as response:
                raw = await response.read()
                try:
                    data = jsonlib.loads(raw) if raw else {}
                except ValueError:
                    data = {"detail": raw[:200].decode("utf-8", errors="replace")}
                if response.status == 404:
                    raise NotFound(str(data.get("detail", "not found")))
                if response.status == 400:
                    raise Invalid(str(data.get("detail", "refused")))
                if response.status >= 300:
                    raise StoreError(f"user-store answered {response.status}: {data}")
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(f"user-store unreachable: {exc}") from exc

    def _endpoints(self, tenant: str, *rest: str) -> tuple[str, ...]:
        return ("internal", "tenants", tenant, "webhooks", "endpoints", *rest)

    async def create_endpoint(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        """Register an endpoint (``secret`` is ciphertext already)."""
        result: dict[str, Any] = await self._call("POST", self._endpoints(tenant), json=body)
        return result

    async def list_endpoints(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's endpoints."""
        found: list[dict[str, Any]] = (await self._call("GET", self._endpoints(tenant)))[
            "endpoints"
        ]
        return found

    async def get_endpoint(self, tenant: str, endpoint: str) -> dict[str, Any]:
        """One endpoint."""
        found: dict[str, Any] = await self._call("GET", self._endpoints(tenant, endpoint))
        return found

    async def rotate(self, tenant: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Add a secret; the previous one expires at ``previous_expire_at``."""
        found: dict[str, Any] = await self._call(
            "POST", self._endpoints(tenant, endpoint, "secrets"), json=body
        )
        return found

    async def delete_endpoint(self, tenant: str, endpoint: str) -> int:
        """Delete the endpoint, its deliveries and their attempts; how many were pending."""
        found = await self._call("DELETE", self._endpoints(tenant, endpoint))
        return int(found["dropped"])

    async def set_status(
        self, tenant: str, endpoint: str, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        """Pause or resume."""
        found: dict[str, Any] = await self._call(
            "POST",
            self._endpoints(tenant, endpoint, "status"),
            json={"status": status, "reason": reason},
        )
        return found

    async def replay(self, tenant: str, endpoint: str, since: str, until: str) -> int:
        """Queue the events of [since, until) again for the endpoint."""
        found = await self._call(
            "POST",
            self._endpoints(tenant, endpoint, "replay"),
            json={"since": since, "until": until},
        )
        return int(found["replayed"])

    async def test_event(self, tenant: str, endpoint: str, event: dict[str, Any]) -> None:
        """Queue a test event for the endpoint."""
        await self._call("POST", self._endpoints(tenant, endpoint, "test"), json=event)

    async def attempts(self, tenant: str, endpoint: str, limit: int) -> list[dict[str, Any]]:
        """The endpoint's latest attempts."""
        found: list[dict[str, Any]] = (
            await self._call(
                "GET", self._endpoints(tenant, endpoint, "attempts"), params={"limit": limit}
            )
        )["attempts"]
        return found

    async def record_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Hand consumed events over (idempotent by event id)."""
        found: dict[str, Any] = await self._call(
            "POST", ("internal", "webhooks", "events"), json={"events": events}
        )
        return found

    async def claim(self, holder: str, limit: int, lease_seconds: float) -> list[dict[str, Any]]:
        """Due deliveries, leased to ``holder``."""
        found: list[dict[str, Any]] = (
            await self._call(
                "POST",
                ("internal", "webhooks", "claims"),
                json={"holder": holder, "limit": limit, "lease_seconds": lease_seconds},
            )
        )["deliveries"]
        return found

    async def record_attempts(self, holder: str, attempts: list[dict[str, Any]]) -> None:
        """Attempts (each with its ``delivery_id``) and what follows from them, in one go."""
        await self._call(
            "POST",
            ("internal", "webhooks", "attempts"),
            json={"holder": holder, "attempts": attempts},
        )

    async def prune(
        self, delivered_before: datetime, events_before: datetime, limit: int
    ) -> dict[str, int]:
        """Housekeeping at the user-store: how many deliveries, attempts, events went."""
        found: dict[str, int] = await self._call(
            "POST",
            ("internal", "webhooks", "housekeeping"),
            json={
                "delivered_before": delivered_before.isoformat(),
                "events_before": events_before.isoformat(),
                "limit": limit,
            },
        )
        return found
