"""A client for the user-store's internal API, for scim-api, sso-login and the reconciler.

The user-store is the only writer of the database. Its internal API serves reads (tenants,
tokens, users, groups) and takes the few writes that are not ingestion events: single-use replay
claims and the tenant's ``sso`` settings section through this client; the reconciler's lease,
runs, state and settings through its own (``reconciler.store``). Users and groups change only by
ingestion events (``roster_shared.bus.requests.Requester``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel

from roster_shared.events.people import GroupSnapshot, UserSnapshot
from roster_shared.filters import GroupPage, ListQuery, UserPage
from roster_shared.ids import UnsafeSegment, internal_path, internal_url
from roster_shared.tenants import TenantInfo

M = TypeVar("M", bound=BaseModel)


class UserStoreClientError(Exception):
    """The user-store answered with an error; ``code`` is its typed error code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class UserStoreClient:
    """Reads tenants, users and groups from the user-store over HTTP."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self._headers = headers
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def start(self) -> None:
        """Open the connection pool."""
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def _path(*segments: str) -> str:
        """The internal path of these segments, each quoted whole (``roster_shared.ids``).

        A value that cannot be a segment (empty, ``.``, ``..``) names no tenant, user or group:
        it is answered as the user-store answers an unknown one (404), without a request.
        """
        try:
            return internal_path("internal", "tenants", *segments)
        except UnsafeSegment as exc:
            raise UserStoreClientError(404, "not_found", str(exc)) from exc

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> M:
        if self._session is None:
            raise RuntimeError("UserStoreClient.start() was not called")
        url = internal_url(self._base, path)
        async with self._session.request(method, url, json=json, params=params) as response:
            body = await response.read()
            if response.status >= 400:
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = {}
                raise UserStoreClientError(
                    response.status,
                    str(data.get("error", "error")),
                    str(data.get("detail", body[:200])),
                )
            return model.model_validate_json(body)

    async def tenant(self, ref: str) -> TenantInfo:
        """A tenant by id or slug."""
        return await self._call("GET", self._path(ref), TenantInfo)

    async def verify_token(self, ref: str, token: str) -> TenantInfo | None:
        """The tenant when ``token`` is one of its live SCIM tokens, else None."""
        try:
            return await self._call(
                "POST", self._path(ref, "tokens", "verify"), TenantInfo, json={"token": token}
            )
        except UserStoreClientError as error:
            if error.status in (401, 404):
                return None
            raise

    async def user(self, tenant_id: str, user_id: str) -> UserSnapshot:
        """One user of the tenant."""
        return await self._call("GET", self._path(tenant_id, "users", user_id), UserSnapshot)

    async def users(self, tenant_id: str, query: ListQuery) -> UserPage:
        """A page of the tenant's users."""
        return await self._call(
            "POST",
            self._path(tenant_id, "users", "query"),
            UserPage,
            json=query.model_dump(mode="json"),
        )

    async def group(self, tenant_id: str, group_id: str, *, members: bool = True) -> GroupSnapshot:
        """One group of the tenant."""
        return await self._call(
            "GET",
            self._path(tenant_id, "groups", group_id),
            GroupSnapshot,
            params={"members": str(members).lower()},
        )

    async def groups(self, tenant_id: str, query: ListQuery, *, members: bool = True) -> GroupPage:
        """A page of the tenant's groups."""
        return await self._call(
            "POST",
            self._path(tenant_id, "groups", "query"),
            GroupPage,
            json=query.model_dump(mode="json"),
            params={"members": str(members).lower()},
        )

    async def claim_once(self, tenant_id: str, claim: str, expires_at: datetime) -> bool:
        """Claim a single-use value (a SAML assertion id, an OIDC state) for the tenant.

        True for the first claim of that value, False for every later one until ``expires_at``
        (the user-store keeps one row per tenant and value, so concurrent claims have one winner).
        """
        try:
            await self._call(
                "POST",
                self._path(tenant_id, "replay-claims"),
                _Claimed,
                json={"claim": claim, "expires_at": expires_at.isoformat()},
            )
        except UserStoreClientError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def set_sso_settings(self, tenant: str, section: dict[str, Any]) -> TenantInfo:
        """Replace the tenant's ``sso`` settings section (sso-login's admin API)."""
        return await self._call(
            "PUT", self._path(tenant, "settings", "sso"), TenantInfo, json=section
        )


class _Claimed(BaseModel):
    claimed: bool
