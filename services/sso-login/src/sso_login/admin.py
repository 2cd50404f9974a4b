"""sso-login's admin API: a tenant's SSO connections over HTTP (the CLI's counterpart).

``/sso/admin/tenants/{tenant}/connections[/saml|/oidc]`` with ``Authorization: Bearer <admin
token>`` (``ROSTER_ADMIN_TOKEN``; without one the admin API is off). sso-login validates the
connection — it owns the model — and the user-store stores it in the tenant's ``sso`` section.
``.../test-tickets`` mints a ticket for the setup portal's Test sign-in.
Answers are JSON; client secrets never come back.
"""

from __future__ import annotations

import hmac
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError
from roster_shared.ids import is_tenant_ref
from roster_shared.userstore_client import UserStoreClientError

from sso_login import saml, test_tickets
from sso_login.connections import OidcConnection, SamlConnection, SsoConfig
from sso_login.keys import CONTEXT, USER_STORE

routes = web.RouteTableDef()
PREFIX = "/admin/tenants/{tenant}"


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def _authorised(request: web.Request) -> web.Response | None:
    expected = request.app[CONTEXT].settings.admin_token
    if expected is None:
        return _error(404, "disabled", "the SSO admin API is off (no ROSTER_ADMIN_TOKEN)")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        return _error(401, "unauthorized", "a valid admin bearer token is required")
    return None


def view(config: SsoConfig, public_url: str, slug: str) -> dict[str, Any]:
    """The configuration as shown: secrets masked, our SP and redirect URLs added."""
    data = config.model_dump(mode="json", exclude_none=True)
    if "oidc" in data:
        data["oidc"]["client_secret"] = "***"  # noqa: S105 - masking
    urls = saml.sp_urls(public_url, slug)
    data["service_provider"] = {
        "entity_id": urls.entity_id,
        "acs_url": urls.acs_url,
        "metadata_url": urls.metadata_url,
        "oidc_redirect_uri": f"{public_url.rstrip('/')}/sso/{slug}/oidc/callback",
    }
    return data


async def _change(
    request: web.Request, change: dict[str, Any], drop: str | None = None
) -> web.Response:
    store = request.app[USER_STORE]
    public_url = request.app[CONTEXT].settings.public_url
    if not is_tenant_ref(request.match_info["tenant"]):
        return _error(404, "unknown_tenant", "no tenant of that name or id")
    try:
        tenant = await store.tenant(request.match_info["tenant"])
        current = SsoConfig.of(tenant.settings).model_dump(mode="json", exclude_none=True)
        if drop:
            current.pop(drop, None)
        config = SsoConfig.model_validate({**current, **change})
        tenant = await store.set_sso_settings(tenant.id, config.section()["sso"])
    except ValidationError as exc:
        return _error(400, "invalid", str(exc.errors()[0]["msg"]))
    except UserStoreClientError as exc:
        return _error(exc.status, exc.code, exc.detail)
    except (aiohttp.ClientError, TimeoutError):
        return _error(503, "unavailable", "the user-store did not answer")
    return web.json_response(view(config, public_url, tenant.slug))


async def _json(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "invalid", "the body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "invalid", "the body must be a JSON object")
    return body


@routes.get(PREFIX + "/connections")
async def connections_get(request: web.Request) -> web.Response:
    """The tenant's SSO configuration."""
    if (refused := _authorised(request)) is not None:
        return refused
    return await _change(request, {})


@routes.put(PREFIX + "/connections/saml")
async def saml_put(request: web.Request) -> web.Response:
    """Connect a SAML IdP: ``{"metadata_xml": "...", "allow_idp_initiated"?, ...}`` or the
    metadata XML itself as the body."""
    if (refused := _authorised(request)) is not None:
        return refused
    options: dict[str, Any] = {}
    if request.content_type in ("application/xml", "text/xml", "application/samlmetadata+xml"):
        xml = await request.text()
    else:
        body = await _json(request)
        if isinstance(body, web.Response):
            return body
        xml = str(body.pop("metadata_xml", ""))
        options = body
    try:
        connection = saml.parse_idp_metadata(xml, options.pop("entity_id", None))
        connection = SamlConnection.model_validate({**connection.model_dump(), **options})
    except saml.SamlError as exc:
        return _error(400, "metadata", str(exc))
    except ValidationError as exc:
        return _error(400, "invalid", str(exc.errors()[0]["msg"]))
    return await _change(request, {"saml": connection.model_dump(mode="json")})


@routes.put(PREFIX + "/connections/oidc")
async def oidc_put(request: web.Request) -> web.Response:
    """Connect an OpenID provider: ``{"issuer", "client_id", "client_secret", ...}``."""
    if (refused := _authorised(request)) is not None:
        return refused
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    try:
        connection = OidcConnection.model_validate(body)
    except ValidationError as exc:
        return _error(400, "invalid", str(exc.errors()[0]["msg"]))
    return await _change(request, {"oidc": connection.model_dump(mode="json")})


@routes.delete(PREFIX + "/connections/{kind:saml|oidc}")
async def connection_delete(request: web.Request) -> web.Response:
    """Disconnect one kind of IdP."""
    if (refused := _authorised(request)) is not None:
        return refused
    return await _change(request, {}, drop=request.match_info["kind"])


@routes.patch(PREFIX + "/connections")
async def options_patch(request: web.Request) -> web.Response:
    """Tenant-wide options: ``mapping``, ``session_max_age``, ``relay_state_allow``."""
    if (refused := _authorised(request)) is not None:
        return refused
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    allowed = {"mapping", "session_max_age", "relay_state_allow"}
    if not set(body) <= allowed:
        return _error(400, "invalid", f"only {', '.join(sorted(allowed))} may be set here")
    return await _change(request, body)


@routes.post(PREFIX + "/test-tickets")
async def test_ticket(request: web.Request) -> web.Response:
    """A ticket that starts one Test sign-in for the tenant (:mod:`sso_login.test_tickets`).

    The setup portal asks for one when the customer's admin presses Test sign-in."""
    if (refused := _authorised(request)) is not None:
        return refused
    if not is_tenant_ref(request.match_info["tenant"]):
        return _error(404, "unknown_tenant", "no tenant of that name or id")
    try:
        tenant = await request.app[USER_STORE].tenant(request.match_info["tenant"])
    except UserStoreClientError as exc:
        return _error(exc.status, exc.code, exc.detail)
    except (aiohttp.ClientError, TimeoutError):
        return _error(503, "unavailable", "the user-store did not answer")
    ticket = test_tickets.issue(request.app[CONTEXT].sealer, tenant.id)
    return web.json_response({"ticket": ticket, "expires_in": int(test_tickets.TTL)}, status=201)
