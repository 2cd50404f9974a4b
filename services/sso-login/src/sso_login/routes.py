"""Thin HTTP handlers of single sign-on. Paths are relative to the mount point ``/sso``.

The protocol work is in :mod:`sso_login.saml` and :mod:`sso_login.oidc`, the JIT use case in
:mod:`sso_login.login`; handlers read the request, bind logins to the browser with signed
cookies, and turn outcomes into redirects, sessions and error pages.
"""

from __future__ import annotations

import html
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp
from aiohttp import web
from pydantic import ValidationError
from roster_shared.tenants import TenantInfo
from roster_shared.userstore_client import UserStoreClientError

from sso_login import saml
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
from sso_login.mapping import MappedUser, MappingError, map_user
from sso_login.oidc import OidcError, pkce_challenge
from sso_login.relay import DEFAULT_LANDING, safe_target
from sso_login.sessions import COOKIE as SESSION_COOKIE
from sso_login.tokens import BadToken

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SAML_COOKIE = "roster_saml"
OIDC_COOKIE = "roster_oidc"
BAD_RESPONSE = "Your organisation's identity provider sent a sign-in we cannot accept."


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


async def tenant_of(request: web.Request) -> TenantInfo:
    """The tenant named in the path, from the user-store."""
    slug = request.match_info["tenant"]
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


def _saml_connection(config: SsoConfig) -> SamlConnection:
    if config.saml is None:
        raise NotConfigured("This organisation has not connected a SAML identity provider.")
    return config.saml


def _oidc_connection(config: SsoConfig) -> OidcConnection:
    if config.oidc is None:
        raise NotConfigured("This organisation has not connected an OpenID provider.")
    return config.oidc


def _set_cookie(
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


def _clear_cookie(response: web.StreamResponse, name: str, path: str, samesite: str) -> None:
    response.set_cookie(
        name, "", path=path, max_age=0, httponly=True, secure=True, samesite=samesite
    )


def _return_to(request: web.Request, config: SsoConfig) -> str:
    given = request.query.get("return_to")
    if given is None:
        return DEFAULT_LANDING
    target = safe_target(given, config.relay_state_allow)
    if target is None:
        raise Refused("That sign-in link points somewhere we do not send people.")
    return target


async def _read_form(request: web.Request, limit: int) -> dict[str, str]:
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


async def _finish(
    request: web.Request,
    tenant: TenantInfo,
    config: SsoConfig,
    person: MappedUser,
    *,
    issuer: str,
    subject_format: str | None,
    protocol: str,
    target: str,
    correlation_id: str,
) -> web.Response:
    """JIT through the user-store, then the session and the redirect."""
    ctx = _ctx(request)
    user = await provision(
        request.app[REQUESTER],
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
    response = _redirect(target)
    _set_cookie(response, SESSION_COOKIE, value, path="/", max_age=max_age, samesite="Lax")
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


# -- SAML ----------------------------------------------------------------------------------


def _urls(request: web.Request, tenant: TenantInfo) -> saml.SpUrls:
    return saml.sp_urls(_ctx(request).settings.public_url, tenant.slug)


@routes.get("/{tenant}/saml/metadata")
async def saml_metadata(request: web.Request) -> web.Response:
    """Our SP metadata for the tenant, served before any IdP is connected."""
    tenant = await tenant_of(request)
    return web.Response(
        text=saml.sp_metadata(_urls(request, tenant), _ctx(request).sp_keys),
        content_type="application/samlmetadata+xml",
    )


@routes.get("/{tenant}/saml/login")
async def saml_login(request: web.Request) -> web.Response:
    """SP-initiated login: an AuthnRequest whose id is bound to this browser."""
    tenant = await tenant_of(request)
    config = config_of(tenant)
    connection = _saml_connection(config)
    target = _return_to(request, config)
    ctx = _ctx(request)
    authn = saml.authn_request(_urls(request, tenant), connection, None, ctx.sp_keys)
    cookie = ctx.signer.dumps(
        "saml-login",
        {"tid": tenant.id, "rid": authn.id, "rt": target},
        max_age=ctx.settings.login_state_ttl,
    )
    response: web.Response
    if authn.redirect_url is not None:
        response = _redirect(authn.redirect_url)
    else:
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in authn.form.items()
        )
        response = web.Response(
            text="<!doctype html><html><body onload='document.forms[0].submit()'>"
            f'<form method="post" action="{html.escape(authn.post_url or "")}">{inputs}'
            "<noscript><button>Continue</button></noscript></form></body></html>",
            content_type="text/html",
        )
    # SameSite=None: the IdP POSTs to our ACS from its own site, and this cookie must come along.
    _set_cookie(
        response,
        SAML_COOKIE,
        cookie,
        path=f"/sso/{tenant.slug}/saml/",
        max_age=ctx.settings.login_state_ttl,
        samesite="None",
    )
    return response


@routes.post("/{tenant}/saml/acs")
async def saml_acs(request: web.Request) -> web.Response:
    """The assertion consumer service (HTTP-POST binding)."""
    ctx = _ctx(request)
    settings = ctx.settings
    form = await _read_form(request, settings.max_saml_response_bytes * 2)
    tenant = await tenant_of(request)
    config = config_of(tenant)
    connection = _saml_connection(config)
    encoded = form.get("SAMLResponse")
    if not encoded:
        raise Refused(BAD_RESPONSE, reason="no SAMLResponse")
    bound: dict[str, Any] | None = None
    try:
        bound = ctx.signer.loads("saml-login", request.cookies.get(SAML_COOKIE))
    except BadToken:
        bound = None
    if bound is not None and bound.get("tid") != tenant.id:
        bound = None
    request_id = str(bound["rid"]) if bound else None
    urls = _urls(request, tenant)
    try:
        assertion = saml.validate_response(
            encoded,
            urls=urls,
            connection=connection,
            request_id=request_id,
            skew=timedelta(seconds=settings.clock_skew),
            max_bytes=settings.max_saml_response_bytes,
            keys=ctx.sp_keys,
        )
    except saml.SamlError as exc:
        raise Refused(BAD_RESPONSE, reason=f"SAML: {exc}") from exc

    # Relay: the target bound at login; for IdP-initiated, a RelayState that passes the checks.
    if bound is not None:
        target = str(bound.get("rt") or DEFAULT_LANDING)
    else:
        relay = form.get("RelayState")
        target = DEFAULT_LANDING
        if relay:
            checked = safe_target(relay, config.relay_state_allow)
            if checked is None:
                raise Refused(BAD_RESPONSE, reason=f"unsafe RelayState {relay[:200]!r}")
            target = checked

    # One assertion, one login: the replay cache is shared by every instance.
    expires = assertion.not_on_or_after + timedelta(seconds=settings.clock_skew)
    claim = f"saml:{assertion.issuer}:{assertion.assertion_id}"[:512]
    if not await _claim(request, tenant, claim, expires):
        raise Refused(BAD_RESPONSE, reason=f"replayed assertion {assertion.assertion_id}")
    try:
        person = map_user(assertion.attributes, subject=assertion.name_id, mapping=config.mapping)
    except MappingError as exc:
        raise Refused(BAD_RESPONSE, reason=str(exc)) from exc
    response = await _finish(
        request,
        tenant,
        config,
        person,
        issuer=assertion.issuer,
        subject_format=assertion.name_id_format,
        protocol="saml",
        target=target,
        correlation_id=assertion.assertion_id,
    )
    _clear_cookie(response, SAML_COOKIE, f"/sso/{tenant.slug}/saml/", "None")
    return response


async def _claim(request: web.Request, tenant: TenantInfo, claim: str, expires: datetime) -> bool:
    try:
        return await request.app[USER_STORE].claim_once(tenant.id, claim, expires)
    except (UserStoreClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable("Sign-in is unavailable right now; please try again.") from exc


# -- OIDC ----------------------------------------------------------------------------------


def _redirect_uri(ctx: Context, tenant: TenantInfo) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/sso/{tenant.slug}/oidc/callback"


@routes.get("/{tenant}/oidc/login")
async def oidc_login(request: web.Request) -> web.Response:
    """Authorization code flow with PKCE S256; state and nonce bound to this browser."""
    tenant = await tenant_of(request)
    config = config_of(tenant)
    connection = _oidc_connection(config)
    target = _return_to(request, config)
    ctx = _ctx(request)
    try:
        metadata = await ctx.providers.metadata(connection.issuer)
    except OidcError as exc:
        raise Unavailable(
            "Your organisation's identity provider cannot be reached.", reason=str(exc)
        ) from exc
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    params = {
        "response_type": "code",
        "client_id": connection.client_id,
        "redirect_uri": _redirect_uri(ctx, tenant),
        "scope": " ".join(connection.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    endpoint = str(metadata["authorization_endpoint"])
    sep = "&" if "?" in endpoint else "?"
    response = _redirect(endpoint + sep + urlencode(params))
    cookie = ctx.signer.dumps(
        "oidc-login",
        {
            "tid": tenant.id,
            "iss": connection.issuer,
            "st": state,
            "n": nonce,
            "cv": verifier,
            "rt": target,
        },
        max_age=ctx.settings.login_state_ttl,
    )
    # Lax suffices: the provider sends the browser back with a top-level GET.
    _set_cookie(
        response,
        OIDC_COOKIE,
        cookie,
        path=f"/sso/{tenant.slug}/oidc/",
        max_age=ctx.settings.login_state_ttl,
        samesite="Lax",
    )
    return response


@routes.get("/{tenant}/oidc/callback")
async def oidc_callback(request: web.Request) -> web.Response:
    """The provider's redirect back: state, RFC 9207 ``iss``, code exchange, ID token."""
    tenant = await tenant_of(request)
    config = config_of(tenant)
    connection = _oidc_connection(config)
    ctx = _ctx(request)
    query = request.query
    try:
        bound = ctx.signer.loads("oidc-login", request.cookies.get(OIDC_COOKIE))
    except BadToken as exc:
        raise Refused(
            "This sign-in expired or was started in another browser; please start again.",
            reason=f"no login state cookie: {exc}",
        ) from exc
    if bound.get("tid") != tenant.id or bound.get("iss") != connection.issuer:
        raise Refused(BAD_RESPONSE, reason="login state bound to another tenant or issuer")
    state = query.get("state", "")
    if not state or not secrets.compare_digest(state, str(bound.get("st", ""))):
        raise Refused(BAD_RESPONSE, reason="state missing or mismatched")
    try:
        metadata = await ctx.providers.metadata(connection.issuer)
    except OidcError as exc:
        raise Unavailable(
            "Your organisation's identity provider cannot be reached.", reason=str(exc)
        ) from exc
    iss = query.get("iss")
    if iss is not None and iss != connection.issuer:
        raise Refused(BAD_RESPONSE, reason=f"RFC 9207 iss {iss!r} is not the tenant's issuer")
    if iss is None and metadata.get("authorization_response_iss_parameter_supported"):
        raise Refused(BAD_RESPONSE, reason="RFC 9207 iss parameter missing")
    expires = datetime.now(UTC) + timedelta(seconds=ctx.settings.login_state_ttl * 2)
    if not await _claim(request, tenant, f"oidc-state:{state}", expires):
        raise Refused(BAD_RESPONSE, reason="state replayed")
    if "error" in query:
        raise Refused(
            "Your organisation's identity provider did not sign you in.",
            reason=f"provider error {query.get('error')!r}: "
            f"{query.get('error_description', '')[:200]}",
        )
    code = query.get("code")
    if not code:
        raise Refused(BAD_RESPONSE, reason="no authorization code")
    try:
        tokens = await ctx.providers.exchange_code(
            metadata,
            connection,
            code=code,
            verifier=str(bound["cv"]),
            redirect_uri=_redirect_uri(ctx, tenant),
        )
        claims = await ctx.providers.validate_id_token(
            tokens["id_token"],
            connection,
            nonce=str(bound["n"]),
            skew=ctx.settings.clock_skew,
            max_age=ctx.settings.login_state_ttl,
        )
        mapping_source: dict[str, Any] = dict(claims)
        access_token = tokens.get("access_token")
        if "groups" not in claims and isinstance(access_token, str):
            info = await ctx.providers.userinfo(metadata, access_token)
            if info.get("sub") == claims["sub"]:
                mapping_source = {**info, **claims}
    except OidcError as exc:
        raise Refused(BAD_RESPONSE, reason=f"OIDC: {exc}") from exc
    try:
        person = map_user(mapping_source, subject=str(claims["sub"]), mapping=config.mapping)
    except MappingError as exc:
        raise Refused(BAD_RESPONSE, reason=str(exc)) from exc
    response = await _finish(
        request,
        tenant,
        config,
        person,
        issuer=connection.issuer,
        subject_format=None,
        protocol="oidc",
        target=str(bound.get("rt") or DEFAULT_LANDING),
        correlation_id=state[:32],
    )
    _clear_cookie(response, OIDC_COOKIE, f"/sso/{tenant.slug}/oidc/", "Lax")
    return response


# -- sessions ------------------------------------------------------------------------------


@routes.get("/session")
async def session_info(request: web.Request) -> web.Response:
    """The signed-in person, as JSON (401 without a valid session)."""
    session = await _ctx(request).sessions.check(request.cookies.get(SESSION_COOKIE))
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
    ctx = _ctx(request)
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
        response = _redirect(target)
    else:
        response = web.Response(
            text="<!doctype html><html><head><meta charset='utf-8'><title>Signed out</title>"
            "</head><body><h1>Signed out</h1><p>You are signed out.</p></body></html>",
            content_type="text/html",
        )
    _clear_cookie(response, SESSION_COOKIE, "/", "Lax")
    return response
