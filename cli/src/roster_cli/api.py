"""Administration through the running services' admin APIs (``--url URL`` and an admin token).

The production way: the CLI holds no database credential and migrates nothing. Each operation is
one request to the service that owns it — tenants and tokens to the user-store
(``/admin/tenants...``), SSO connections to sso-login (``/sso/admin/tenants/...``), directory
connectors and runs to the reconciler (``/reconciler/tenants/...``). Every service keeps these
absolute paths standalone and inside ``roster dev``, so ``URL`` is that service's address, a
gateway in front of all of them, or ``roster dev`` itself. A refusal comes back as the
service's ``{"error", "detail"}`` and fails the command with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from reconciler.records import RunRecord
from roster_shared.tenants import ProvisioningMode, TenantInfo
from sso_login.connections import OidcConnection, SsoConfig
from user_store.tenants import IssuedToken, TokenInfo

from roster_cli.failures import CommandFailed

TIMEOUT = aiohttp.ClientTimeout(total=120)  # a reconcile run answers when it ends


@dataclass(frozen=True)
class AdminApi:
    """The admin APIs at ``base`` (``http(s)://host:port``), with the admin bearer token."""

    base: str
    token: str

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the JSON answer, or :class:`CommandFailed` with the service's code."""
        url = self.base.rstrip("/") + path
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as http,
                http.request(method, url, json=body, headers=headers) as response,
            ):
                raw = await response.read()
                data = _json(raw)
                if response.status >= 400:
                    if isinstance(data, dict) and "error" in data:
                        detail = str(data.get("detail") or data.get("reference") or "")
                        raise CommandFailed(str(data["error"]), detail or f"HTTP {response.status}")
                    raise CommandFailed(
                        "http", f"{method} {url}: HTTP {response.status} {response.reason}"
                    )
                return data
        except aiohttp.ClientError as exc:
            raise CommandFailed("unreachable", f"cannot reach {self.base}: {exc}") from exc
        except TimeoutError as exc:
            raise CommandFailed("unreachable", f"{self.base} did not answer in time") from exc

    # -- the user-store: tenants and tokens --------------------------------------------------

    async def create_tenant(
        self, slug: str, mode: ProvisioningMode, display_name: str | None
    ) -> TenantInfo:
        body = {"slug": slug, "mode": mode.value, "display_name": display_name}
        return TenantInfo.model_validate(await self.request("POST", "/admin/tenants", body))

    async def list_tenants(self) -> list[TenantInfo]:
        return [TenantInfo.model_validate(t) for t in await self.request("GET", "/admin/tenants")]

    async def tenant(self, ref: str) -> TenantInfo:
        return (await self.show(ref))[0]

    async def show(self, ref: str) -> tuple[TenantInfo, list[TokenInfo]]:
        data = await self.request("GET", f"/admin/tenants/{_seg(ref)}")
        tokens = [TokenInfo.model_validate(t) for t in data.pop("tokens", [])]
        return TenantInfo.model_validate(data), tokens

    async def set_mode(self, ref: str, mode: ProvisioningMode) -> TenantInfo:
        data = await self.request("PATCH", f"/admin/tenants/{_seg(ref)}", {"mode": mode.value})
        return TenantInfo.model_validate(data)

    async def issue_token(self, ref: str, label: str | None) -> IssuedToken:
        data = await self.request("POST", f"/admin/tenants/{_seg(ref)}/tokens", {"label": label})
        return IssuedToken.model_validate(data)

    async def revoke_token(self, ref: str, token_id: str) -> tuple[TenantInfo, TokenInfo]:
        tenant = await self.tenant(ref)
        path = f"/admin/tenants/{_seg(tenant.id)}/tokens/{_seg(token_id)}"
        return tenant, TokenInfo.model_validate(await self.request("DELETE", path))

    # -- sso-login: connections ----------------------------------------------------------------

    async def sso(self, ref: str) -> tuple[str, SsoConfig]:
        return ref, _sso(await self.request("GET", _connections(ref)))

    async def connect_saml(
        self,
        ref: str,
        metadata_xml: str,
        *,
        entity_id: str | None,
        allow_idp_initiated: bool,
        mapping: str | None,
    ) -> tuple[str, SsoConfig]:
        body: dict[str, Any] = {
            "metadata_xml": metadata_xml,
            "allow_idp_initiated": allow_idp_initiated,
        }
        if entity_id:
            body["entity_id"] = entity_id
        config = _sso(await self.request("PUT", _connections(ref) + "/saml", body))
        return ref, await self._mapping(ref, mapping) or config

    async def connect_oidc(
        self, ref: str, oidc: OidcConnection, mapping: str | None
    ) -> tuple[str, SsoConfig]:
        body = oidc.model_dump(mode="json")
        config = _sso(await self.request("PUT", _connections(ref) + "/oidc", body))
        return ref, await self._mapping(ref, mapping) or config

    async def _mapping(self, ref: str, mapping: str | None) -> SsoConfig | None:
        if not mapping:
            return None
        return _sso(await self.request("PATCH", _connections(ref), {"mapping": mapping}))

    # -- the reconciler: directory connector and runs ------------------------------------------

    async def connect_directory(
        self, ref: str, kind: str, url: str | None, token: str
    ) -> dict[str, Any]:
        body = {"kind": kind, "url": url, "token": token}
        data: dict[str, Any] = await self.request("PUT", _reconciler(ref) + "/directory", body)
        return data

    async def runs(self, ref: str, limit: int) -> tuple[str, list[dict[str, Any]]]:
        data = await self.request("GET", _reconciler(ref) + f"/runs?limit={limit}")
        return ref, list(data["runs"])

    async def run(self, ref: str, *, dry_run: bool) -> RunRecord:
        data = await self.request("POST", _reconciler(ref) + "/runs", {"dry_run": dry_run})
        return RunRecord.model_validate(data)

    async def decide(self, ref: str, run_id: str, decision: str, by: str) -> RunRecord:
        """``decision``: ``approve`` or ``reject`` a run the brake held."""
        path = _reconciler(ref) + f"/runs/{_seg(run_id)}/{decision}"
        return RunRecord.model_validate(await self.request("POST", path, {"by": by}))


def _seg(value: str) -> str:
    return quote(value, safe="")


def _connections(ref: str) -> str:
    return f"/sso/admin/tenants/{_seg(ref)}/connections"


def _reconciler(ref: str) -> str:
    return f"/reconciler/tenants/{_seg(ref)}"


def _sso(view: dict[str, Any]) -> SsoConfig:
    """sso-login's view of a configuration, without what it adds (our SP's URLs)."""
    view = {k: v for k, v in view.items() if k != "service_provider"}
    if "oidc" in view:
        # The API masks the secret; the CLI masks it again before printing.
        view["oidc"] = {**view["oidc"], "client_secret": view["oidc"].get("client_secret", "***")}
    return SsoConfig.model_validate(view)


def _json(raw: bytes) -> Any:
    import json

    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
