"""The reconciler's own calls to the user-store's internal API: tenants to schedule, the tenant
lease, run records, the state document and the ``reconciler``/``directory`` settings sections.
(Users and tenants are read with the shared ``UserStoreClient``.)"""

from __future__ import annotations

import io
import json as jsonlib
from typing import Any

import aiohttp
from roster_shared.ids import UnsafeSegment, internal_path, internal_url
from roster_shared.internal_http import InternalHttpClient
from roster_shared.tenants import TenantInfo

from reconciler.errors import NotFound, ReconcilerError


class StoreError(ReconcilerError):
    """The user-store refused or did not answer."""

    code = "user_store"
    status = 502


class StateStore(InternalHttpClient):
    """HTTP client of ``/internal/.../reconciler``."""

    async def _call(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        session = self.session()
        # A run record can take megabytes: stream it rather than hand aiohttp one large bytes.
        body = None if json is None else io.BytesIO(jsonlib.dumps(json).encode())
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            async with session.request(
                method,
                internal_url(self._base, path),
                data=body,
                headers=headers,
                params=params,
            ) as response:
                raw = await response.read()
                try:
                    data = jsonlib.loads(raw) if raw else {}
                except ValueError:
                    data = {"detail": raw[:200].decode(errors="replace")}
                if response.status == 404:
                    raise NotFound(str(data.get("detail", "not found")))
                if response.status >= 400:
                    raise StoreError(f"user-store: {response.status} {data}")
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(f"user-store unreachable: {exc}") from exc

    @staticmethod
    def _path(tenant: str, *segments: str) -> str:
        """``/internal/tenants/<tenant>/reconciler/...``, every segment quoted whole; a value that
        cannot be a segment names nothing (404, without a request)."""
        try:
            return internal_path("internal", "tenants", tenant, "reconciler", *segments)
        except UnsafeSegment as exc:
            raise NotFound(str(exc)) from exc

    async def tenants(self) -> list[TenantInfo]:
        """Every tenant."""
        data = await self._call("GET", internal_path("internal", "reconciler", "tenants"))
        return [TenantInfo.model_validate(t) for t in data["tenants"]]

    async def users(
        self, tenant: str, *, after: str | None = None, limit: int = 5000
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the tenant's users, lean (what a run decides on), and the next cursor."""
        params = {"limit": str(limit), **({"after": after} if after else {})}
        data = await self._call("GET", self._path(tenant, "users"), params=params)
        users: list[dict[str, Any]] = data["users"]
        return users, data.get("next")

    async def acquire(self, tenant: str, holder: str, ttl: float) -> tuple[bool, str]:
        """Take or renew the tenant's lease: (acquired, holder now)."""
        data = await self._call(
            "POST", self._path(tenant, "lease"), json={"holder": holder, "ttl_seconds": ttl}
        )
        return bool(data["acquired"]), str(data["holder"])

    async def release(self, tenant: str, holder: str) -> None:
        """Give the lease back."""
        await self._call("DELETE", self._path(tenant, "lease", holder))

    async def save_run(self, tenant: str, record: dict[str, Any]) -> None:
        """Store a run record."""
        await self._call("PUT", self._path(tenant, "runs", str(record["id"])), json=record)

    async def runs(
        self, tenant: str, *, limit: int = 20, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Latest run records, newest first."""
        params = {"limit": str(limit), **({"status": status} if status else {})}
        data = await self._call("GET", self._path(tenant, "runs"), params=params)
        runs: list[dict[str, Any]] = data["runs"]
        return runs

    async def run(self, tenant: str, run_id: str) -> dict[str, Any]:
        """One run record."""
        record: dict[str, Any] = await self._call("GET", self._path(tenant, "runs", run_id))
        return record

    async def state(self, tenant: str) -> dict[str, Any]:
        """The tenant's state document."""
        state: dict[str, Any] = await self._call("GET", self._path(tenant, "state"))
        return state

    async def put_state(self, tenant: str, state: dict[str, Any]) -> None:
        """Replace the state document."""
        await self._call("PUT", self._path(tenant, "state"), json=state)

    async def put_settings(self, tenant: str, section: str, value: dict[str, Any]) -> TenantInfo:
        """Set the tenant's ``reconciler`` or ``directory`` section."""
        data = await self._call("PUT", self._path(tenant, "settings", section), json=value)
        return TenantInfo.model_validate(data)
