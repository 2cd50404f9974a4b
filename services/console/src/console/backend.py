"""The console's only way to read and change anything: the services' own HTTP APIs.

Changes go through the same admin APIs the ``roster`` CLI uses (tenants and tokens at the
user-store, SSO connections at sso-login, runs at the reconciler), with the admin credential;
reads that are not admin operations (users, groups, setup links, the request log) through the
user-store's internal API, with the internal credential. The console never touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from roster_shared.events.people import UserSnapshot
from roster_shared.filters import GroupPage, ListQuery, UserPage
from roster_shared.ids import UnsafeSegment, internal_path, internal_url
from roster_shared.tenants import TenantInfo


class BackendError(Exception):
    """An API answered with an error (``status``, its ``code`` and ``detail``)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail

    @property
    def client_mistake(self) -> bool:
        """The request was wrong (show it beside the form), not the service down."""
        return 400 <= self.status < 500


@dataclass(frozen=True)
class Urls:
    """Where each API answers (one address in ``roster dev``, three in production)."""

    user_store: str
    sso_login: str
    reconciler: str
    webhooks: str = "http://127.0.0.1:8105"


def _seg(*segments: str) -> str:
    try:
        return internal_path(*segments)
    except UnsafeSegment as exc:  # names nothing: answered as the API answers an unknown one
        raise BackendError(404, "not_found", str(exc)) from exc


class Backend:
    """Admin and internal API calls, on one connection pool."""

    def __init__(
        self, urls: Urls, *, admin_token: str, internal_token: str | None, timeout: float
    ) -> None:
        self.urls = urls
        self._admin = {"Authorization": f"Bearer {admin_token}"}
        self._internal = {"Authorization": f"Bearer {internal_token}"} if internal_token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def call(
        self, method: str, base: str, path: str, *, admin: bool, json: Any = None
    ) -> Any:
        """One API request; its JSON answer, or :class:`BackendError`."""
        return await self._call(method, base, path, admin=admin, json=json)

    async def _call(
        self, method: str, base: str, path: str, *, admin: bool, json: Any = None
    ) -> Any:
        if self._http is None:
            raise RuntimeError("Backend.start() was not called")
        headers = self._admin if admin else self._internal
        try:
            async with self._http.request(
                method, internal_url(base.rstrip("/"), path), json=json, headers=headers
            ) as response:
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
                if response.status >= 400:
                    body = data if isinstance(data, dict) else {}
                    raise BackendError(
                        response.status,
                        str(body.get("error", "error")),
                        str(body.get("detail") or body.get("reference") or response.reason),
                    )
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackendError(503, "unavailable", f"{base} did not answer: {exc}") from exc

    # -- the user-store: tenants, tokens, setup links ----------------------------------------

    async def tenants(self) -> list[TenantInfo]:
        data = await self._call("GET", self.urls.user_store, "/admin/tenants", admin=True)
        return [TenantInfo.model_validate(t) for t in data]

    async def create_tenant(self, slug: str, mode: str, display_name: str | None) -> TenantInfo:
        body = {"slug": slug, "mode": mode, "display_name": display_name}
        data = await self._call(
            "POST", self.urls.user_store, "/admin/tenants", admin=True, json=body
        )
        return TenantInfo.model_validate(data)

    async def tenant(self, ref: str) -> tuple[TenantInfo, list[dict[str, Any]]]:
        data = await self._call(
            "GET", self.urls.user_store, _seg("admin", "tenants", ref), admin=True
        )
        tokens = list(data.pop("tokens", []))
        return TenantInfo.model_validate(data), tokens

    async def sign_out(self, session_hash: str, until: int) -> None:
        """Record that a console session was signed out (see ``guard``)."""
        body = {"session_hash": session_hash, "expires_at": until}
        path = "/admin/console-sessions/signed-out"
        await self._call("POST", self.urls.user_store, path, admin=True, json=body)

    async def signed_out(self, session_hash: str) -> bool:
        """Whether a console session was signed out."""
        path = "/admin/console-sessions/check"
        body = {"session_hash": session_hash}
        data = await self._call("POST", self.urls.user_store, path, admin=True, json=body)
        return bool(data["signed_out"])

    async def set_mode(self, ref: str, mode: str) -> TenantInfo:
        path = _seg("admin", "tenants", ref)
        data = await self._call(
            "PATCH", self.urls.user_store, path, admin=True, json={"mode": mode}
        )
        return TenantInfo.model_validate(data)

    async def issue_token(self, ref: str, label: str | None) -> dict[str, Any]:
        path = _seg("admin", "tenants", ref, "tokens")
        data: dict[str, Any] = await self._call(
            "POST", self.urls.user_store, path, admin=True, json={"label": label}
        )
        return data

    async def revoke_token(self, ref: str, token_id: str) -> None:
        path = _seg("admin", "tenants", ref, "tokens", token_id)
        await self._call("DELETE", self.urls.user_store, path, admin=True)

    async def links(self, ref: str) -> list[dict[str, Any]]:
        path = _seg("admin", "tenants", ref, "setup-links")
        return list((await self._call("GET", self.urls.user_store, path, admin=True))["links"])

    async def create_link(
        self, ref: str, parts: list[str], hours: int, label: str | None
    ) -> dict[str, Any]:
        path = _seg("admin", "tenants", ref, "setup-links")
        body = {"parts": parts, "expires_in_hours": hours, "label": label}
        data: dict[str, Any] = await self._call(
            "POST", self.urls.user_store, path, admin=True, json=body
        )
        return data

    async def revoke_link(self, ref: str, link_id: str) -> None:
        path = _seg("admin", "tenants", ref, "setup-links", link_id)
        await self._call("DELETE", self.urls.user_store, path, admin=True)

    async def open_link(self, token: str) -> tuple[dict[str, Any], TenantInfo]:
        data = await self._call(
            "POST",
            self.urls.user_store,
            "/internal/setup-links/open",
            admin=False,
            json={"token": token},
        )
        return data["link"], TenantInfo.model_validate(data["tenant"])

    # -- the user-store: users, groups, the request log (internal API) -----------------------

    async def users(self, tenant_id: str, query: ListQuery) -> UserPage:
        path = _seg("internal", "tenants", tenant_id, "users", "query")
        data = await self._call(
            "POST", self.urls.user_store, path, admin=False, json=query.model_dump(mode="json")
        )
        return UserPage.model_validate(data)

    async def user(self, tenant_id: str, user_id: str) -> UserSnapshot:
        path = _seg("internal", "tenants", tenant_id, "users", user_id)
        return UserSnapshot.model_validate(
            await self._call("GET", self.urls.user_store, path, admin=False)
        )

    async def history(
        self, tenant_id: str, user_id: str, *, before: int | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """A page of the user's lifecycle events, newest first (``next`` pages on)."""
        path = _seg("internal", "tenants", tenant_id, "users", user_id, "history")
        path += f"?limit={limit}" + (f"&before={before}" if before is not None else "")
        data: dict[str, Any] = await self._call("GET", self.urls.user_store, path, admin=False)
        return data

    async def groups(self, tenant_id: str, query: ListQuery) -> GroupPage:
        path = _seg("internal", "tenants", tenant_id, "groups", "query") + "?members=false"
        data = await self._call(
            "POST", self.urls.user_store, path, admin=False, json=query.model_dump(mode="json")
        )
        return GroupPage.model_validate(data)

    async def request_log(self, ref: str, source: str, limit: int = 20) -> list[dict[str, Any]]:
        path = _seg("internal", "tenants", ref, "request-log") + f"?source={source}&limit={limit}"
        return list((await self._call("GET", self.urls.user_store, path, admin=False))["entries"])

    async def health(self, ref: str) -> dict[str, Any]:
        path = _seg("internal", "tenants", ref, "request-log", "health")
        data: dict[str, Any] = await self._call("GET", self.urls.user_store, path, admin=False)
        return data

    # -- sso-login: connections --------------------------------------------------------------

    def _connections(self, ref: str, *rest: str) -> str:
        return _seg("sso", "admin", "tenants", ref, "connections", *rest)

    async def sso(self, ref: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "GET", self.urls.sso_login, self._connections(ref), admin=True
        )
        return data

    async def connect_saml(self, ref: str, metadata_xml: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "PUT",
            self.urls.sso_login,
            self._connections(ref, "saml"),
            admin=True,
            json={"metadata_xml": metadata_xml},
        )
        return data

    async def connect_oidc(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "PUT", self.urls.sso_login, self._connections(ref, "oidc"), admin=True, json=body
        )
        return data

    async def test_ticket(self, ref: str) -> str:
        """A ticket that lets one Test sign-in start for the tenant (10 minutes)."""
        data: dict[str, Any] = await self._call(
            "POST",
            self.urls.sso_login,
            _seg("sso", "admin", "tenants", ref, "test-tickets"),
            admin=True,
        )
        return str(data["ticket"])

    async def set_mapping(self, ref: str, mapping: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "PATCH",
            self.urls.sso_login,
            self._connections(ref),
            admin=True,
            json={"mapping": mapping},
        )
        return data

    # -- the reconciler: advice, runs --------------------------------------------------------

    async def advise(self, requirements: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "POST",
            self.urls.reconciler,
            "/reconciler/advise",
            admin=True,
            json={"requirements": requirements},
        )
        return data

    async def connect_directory(
        self, ref: str, kind: str, url: str | None, token: str
    ) -> dict[str, Any]:
        path = _seg("reconciler", "tenants", ref, "directory")
        body = {"kind": kind, "url": url, "token": token}
        data: dict[str, Any] = await self._call(
            "PUT", self.urls.reconciler, path, admin=True, json=body
        )
        return data

    async def set_policy(self, ref: str, policy: dict[str, Any]) -> dict[str, Any]:
        path = _seg("reconciler", "tenants", ref, "policy")
        data: dict[str, Any] = await self._call(
            "PUT", self.urls.reconciler, path, admin=True, json=policy
        )
        return data

    async def runs(self, ref: str, limit: int = 10) -> list[dict[str, Any]]:
        path = _seg("reconciler", "tenants", ref, "runs") + f"?limit={limit}"
        return list((await self._call("GET", self.urls.reconciler, path, admin=True))["runs"])

    async def decide(self, ref: str, run_id: str, decision: str, by: str) -> None:
        path = _seg("reconciler", "tenants", ref, "runs", run_id, decision)
        await self._call("POST", self.urls.reconciler, path, admin=True, json={"by": by})
