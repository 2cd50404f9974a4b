"""Thin HTTP handlers of single sign-on shared by both protocols (entry, sessions, logout) and
the helpers of the SAML and OIDC handlers (:mod:`sso_login.saml.routes`,
:mod:`sso_login.oidc.routes`). Paths are relative to the mount point ``/sso``.

The protocol work is in :mod:`sso_login.saml` and :mod:`sso_login.oidc`, the JIT use case in
:mod:`sso_login.login`; handlers read the request, bind logins to the browser with sealed
cookies, and turn outcomes into redirects, sessions and error pages.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import parse_qs, urlencode

import aiohttp
from aiohttp import web
from pydantic import ValidationError
from roster_shared.ids import is_tenant_ref
from roster_shared.tenants import TenantInfo
from roster_shared.userstore_client import UserStoreClientError

from sso_login import request_log, saml, test_tickets
from sso_login.connections import OidcConnection, SamlConnection, SsoConfig
from sso_login.errors import (
    LoginError,
    NotConfigured,
    Refused,
    SessionRequired,
    Unavailable,
    UnknownTenant,
)
from sso_login.keys import CONTEXT, REQUESTER, USER_STORE, Context
from sso_login.login import provision
from sso_login.mapping import MappedUser
from sso_login.relay import DEFAULT_LANDING, safe_target
from sso_login.sessions import COOKIE as SESSION_COOKIE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SAML_COOKIE = "roster_saml"
OIDC_COOKIE = "roster_oidc"
BAD_RESPONSE = "Your organisation's identity provider sent a sign-in we cannot accept."


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]


async def tenant_of(request: web.Request) -> TenantInfo:
    """The tenant named in the path, from the user-store."""
    slug = request.match_info["tenant"]
    if not is_tenant_ref(slug):
        # Not of slug form: names no organisation, and is not echoed into the page.
        raise UnknownTenant("There is no organisation of that name.", reason="malformed slug")
    try:
        return await request.app[USER_STORE].tenant(slug)
    except UserStoreClientError as exc:
        if exc.status == 404:
            raise UnknownTenant(f"There is no organisation called {slug!r}.") from exc
        raise Unavailable("Sign-in is unavailable right now; please try again.") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable("Sign-in is unavailable right now; please try again.") from exc


def config_of(tenant: TenantInfo) -> SsoConfig:
    """The tenant's SSO configuration; a broken one is the operator's problem, said plainly."""
    try:
        return SsoConfig.of(tenant.settings)
    except ValidationError as exc:
        raise LoginError(
            "Single sign-on for this organisation is misconfigured.", reason=str(exc)
        ) from exc


def saml_connection(config: SsoConfig) -> SamlConnection:
    if config.saml is None:
        raise NotConfigured("This organisation has not connected a SAML identity provider.")
    return config.saml


def oidc_connection(config: SsoConfig) -> OidcConnection:
    if config.oidc is None:
        raise NotConfigured("This organisation has not connected an OpenID provider.")
    return config.oidc


def set_cookie(
    response: web.StreamResponse,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int,
    samesite: str,
) -> None:
    response.set_cookie(
        name, value, path=path, max_age=max_age, httponly=True, secure=True, samesite=samesite
    )


def clear_cookie(response: web.StreamResponse, name: str, path: str, samesite: str) -> None:
    response.set_cookie(
        name, "", path=path, max_age=0, httponly=True, secure=True, samesite=samesite
    )


async def login_start(
    request: web.Request, tenant: TenantInfo, config: SsoConfig
) -> tuple[bool, str]:
    """Whether a login being started (``?test=<ticket>``) is a Test sign-in, and where the
    browser goes after it (``?return_to``).

    A Test sign-in needs a ticket from the setup portal (:mod:`sso_login.test_tickets`); with
    one that is expired, forged, for another tenant or already used the start is refused,
    before the IdP. A ticket starts one Test sign-in: it travels in a URL (browser history,
    proxy logs), and the admin gets a fresh one with each click in the portal.
    A real login refuses a ``return_to`` that fails the relay checks (and goes to the landing
    page without one). For a Test sign-in (:mod:`sso_login.preview`) "back" is only a link on the
    result page, so an unsafe one is dropped rather than refused.
    """
    given = request.query.get("return_to")
    ticket = request.query.get("test")
    if ticket is not None:
        why = test_tickets.refusal(context(request).sealer, ticket, tenant.id)
        if why is None and not await claim_once(
            request, tenant, test_tickets.claim(ticket), test_tickets.claim_expires()
        ):
            why = "test ticket already used"
        if why is not None:
            raise Refused(
                "This Test sign-in link is no longer valid. Start Test sign-in again from the "
                "setup portal.",
                reason=why,
            )
        return True, safe_target(given, config.relay_state_allow) or ""
    if given is None:
        return False, DEFAULT_LANDING
    target = safe_target(given, config.relay_state_allow)
    if target is None:
        raise Refused("That sign-in link points somewhere we do not send people.")
    return False, target


async def read_form(request: web.Request, limit: int) -> dict[str, str]:
    """A urlencoded POST body of at most ``limit`` bytes (read in chunks, never more)."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(BAD_RESPONSE, reason="body too large")
    body = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        body += chunk
        if len(body) > limit:
            raise Refused(BAD_RESPONSE, reason="body too large")
    try:
        parsed = parse_qs(body.decode("ascii"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(BAD_RESPONSE, reason="malformed form") from exc
    return {k: v[0] for k, v in parsed.items() if v}


async def finish_login(
    request: web.Request,
    tenant: TenantInfo,
    config: SsoConfig,
    person: MappedUser,
    *,
    issuer: str,
    subject_format: str | None,
    protocol: str,
    target: str,
    correlation_id: str | None,
) -> web.Response:
    """JIT through the user-store, then the session and the redirect."""
    ctx = context(request)
    user = await provision(
        request.app[REQUESTER],
        request.app[USER_STORE],
        ctx.topics.ingest,
        tenant,
        person,
        issuer=issuer,
        subject_format=subject_format,
        correlation_id=correlation_id,
        timeout=ctx.settings.request_timeout,
    )
    max_age = config.session_max_age or ctx.settings.session_max_age
    value, session = ctx.sessions.issue(
        tenant_id=tenant.id,
        tenant=tenant.slug,
        user_id=user.id,
        user_name=user.user_name,
        max_age=max_age,
        protocol=protocol,
    )
    log.info(
        "login",
        extra={
            "tenant": tenant.slug,
            "user_id": user.id,
            "protocol": protocol,
            "session_id": session.id,
            "correlation_id": correlation_id,
        },
    )
    request_log.record(request, 303)
    response = redirect(target)
    set_cookie(response, SESSION_COOKIE, value, path="/", max_age=max_age, samesite="Lax")
    return response


# -- entry ---------------------------------------------------------------------------------


@routes.get("/{tenant}/login")
async def login(request: web.Request) -> web.Response:
    """Start the tenant's connection (SAML when both are set up)."""
    tenant = await tenant_of(request)
    config = config_of(tenant)
    kind = "saml" if config.saml else "oidc" if config.oidc else None
    if kind is None:
        raise NotConfigured("This organisation has not connected an identity provider yet.")
    query = (
        f"?{urlencode({'return_to': request.query['return_to']})}"
        if ("return_to" in request.query)
        else ""
    )
    raise web.HTTPSeeOther(f"/sso/{tenant.slug}/{kind}/login{query}")


async def claim_once(
    request: web.Request, tenant: TenantInfo, claim: str, expires: datetime
) -> bool:
    try:
        return await request.app[USER_STORE].claim_once(tenant.id, claim, expires)
    except (UserStoreClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable("Sign-in is unavailable right now; please try again.") from exc


# -- sessions ------------------------------------------------------------------------------


@routes.get("/session")
async def session_info(request: web.Request) -> web.Response:
    """The signed-in person, as JSON (401 without a valid session)."""
    session = await context(request).sessions.check(request.cookies.get(SESSION_COOKIE))
    if session is None:
        if "text/html" in request.headers.get("Accept", ""):
            raise SessionRequired("You are not signed in.")
        return web.json_response({"error": "no_session"}, status=401)
    return web.json_response(session.as_json())


@routes.route("*", "/logout")
async def logout(request: web.Request) -> web.Response:
    """End the session: revoked here, cookie cleared; then a safe ``return_to`` or a page.

    An IdP's single-logout message (HTTP-Redirect binding) ends the session of the browser that
    carries it. Its content is not trusted for anything else, but it is decoded with a bounded
    inflate all the same, so a deflate bomb costs nothing.
    """
    ctx = context(request)
    for name in ("SAMLRequest", "SAMLResponse"):
        if name in request.query:
            try:
                saml.decode_redirect(request.query[name], max_bytes=ctx.settings.max_inflated_bytes)
            except saml.SamlError as exc:
                raise Refused(BAD_RESPONSE, reason=f"SAML logout: {exc}") from exc
    session = await ctx.sessions.check(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        ctx.sessions.end(session)
    target = safe_target(request.query.get("return_to"))
    response: web.Response
    if target is not None:
        response = redirect(target)
    else:
        response = web.Response(
            text="<!doctype html><html><head><meta charset='utf-8'><title>Signed out</title>"
            "</head><body><h1>Signed out</h1><p>You are signed out.</p></body></html>",
            content_type="text/html",
        )
    clear_cookie(response, SESSION_COOKIE, "/", "Lax")
    return response
