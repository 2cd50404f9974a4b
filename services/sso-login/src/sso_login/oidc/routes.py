"""OIDC handlers: the authorization request (code + PKCE S256) and the callback.

Paths are relative to the mount point ``/sso``; discovery and keys are in :mod:`.providers`, the
ID token's checks in :mod:`.id_token`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from roster_shared.events.text import correlation
from roster_shared.tenants import TenantInfo

from sso_login import preview
from sso_login.errors import Refused, Unavailable
from sso_login.keys import Context
from sso_login.mapping import MappedUser, MappingError, map_user, oidc_link_keys
from sso_login.oidc.authorization import authorization_url
from sso_login.oidc.errors import OidcError
from sso_login.relay import DEFAULT_LANDING
from sso_login.routes import (
    BAD_RESPONSE,
    OIDC_COOKIE,
    claim_once,
    clear_cookie,
    config_of,
    context,
    finish_login,
    login_start,
    oidc_connection,
    redirect,
    set_cookie,
    tenant_of,
)
from sso_login.tokens import BadToken

routes = web.RouteTableDef()


def _redirect_uri(ctx: Context, tenant: TenantInfo) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/sso/{tenant.slug}/oidc/callback"


@routes.get("/{tenant}/oidc/login")
async def oidc_login(request: web.Request) -> web.Response:
    """Authorization code flow with PKCE S256; state and nonce bound to this browser."""
    tenant = await tenant_of(request)
    config = config_of(tenant)
    connection = oidc_connection(config)
    test, target = await login_start(request, tenant, config)
    ctx = context(request)
    try:
        metadata = await ctx.providers.metadata(connection.issuer)
    except OidcError as exc:
        raise Unavailable(
            "Your organisation's identity provider cannot be reached.", reason=str(exc)
        ) from exc
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    response = redirect(
        authorization_url(
            str(metadata["authorization_endpoint"]),
            connection,
            redirect_uri=_redirect_uri(ctx, tenant),
            state=state,
            nonce=nonce,
            verifier=verifier,
        )
    )
    cookie = ctx.sealer.dumps(
        "oidc-login",
        {
            "tid": tenant.id,
            "iss": connection.issuer,
            "st": state,
            "n": nonce,
            "cv": verifier,
            "rt": target,
            **({"test": True} if test else {}),
        },
        max_age=ctx.settings.login_state_ttl,
    )
    # Lax suffices: the provider sends the browser back with a top-level GET.
    set_cookie(
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
    connection = oidc_connection(config)
    ctx = context(request)
    query = request.query
    try:
        bound = ctx.sealer.loads("oidc-login", request.cookies.get(OIDC_COOKIE))
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
    if not await claim_once(request, tenant, f"oidc-state:{state}", expires):
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
        if bound.get("test"):
            return await _test_result(
                request, tenant, bound, issuer=connection.issuer, refusal=f"OIDC: {exc}"
            )
        raise Refused(BAD_RESPONSE, reason=f"OIDC: {exc}") from exc
    try:
        # Verified claims may come from userinfo (many providers keep email out of the ID
        # token); its sub was checked against the ID token's, as OIDC Core §5.3.2 requires,
        # and the ID token's own claims win over it.
        keys = oidc_link_keys(mapping_source, issuer=connection.issuer, mapping=config.mapping)
        person = map_user(
            mapping_source, subject=str(claims["sub"]), mapping=config.mapping, link_keys=keys
        )
    except (MappingError, ValidationError) as exc:
        # ValidationError: a link key the shared contract refuses (a NUL in the NameID...).
        if bound.get("test"):
            return await _test_result(
                request,
                tenant,
                bound,
                issuer=connection.issuer,
                claims=mapping_source,
                refusal=str(exc),
            )
        raise Refused(BAD_RESPONSE, reason=str(exc)) from exc
    if bound.get("test"):
        return await _test_result(
            request, tenant, bound, issuer=connection.issuer, claims=mapping_source, person=person
        )
    response = await finish_login(
        request,
        tenant,
        config,
        person,
        issuer=connection.issuer,
        subject_format=None,
        protocol="oidc",
        target=str(bound.get("rt") or DEFAULT_LANDING),
        # A random state may not have an id's form (1 in 64 starts with '-'): then none.
        correlation_id=correlation(state[:32]),
    )
    clear_cookie(response, OIDC_COOKIE, f"/sso/{tenant.slug}/oidc/", "Lax")
    return response


async def _test_result(
    request: web.Request,
    tenant: TenantInfo,
    bound: dict[str, Any],
    *,
    issuer: str,
    claims: dict[str, Any] | None = None,
    person: MappedUser | None = None,
    refusal: str | None = None,
) -> web.Response:
    """A Test sign-in's page (no provisioning, no session): what arrived and the verdict."""
    claims = claims or {}
    raw = {
        name: [str(v) for v in value] if isinstance(value, list) else [str(value)]
        for name, value in claims.items()
        if name not in ("sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash")
    }
    response = await preview.page(
        request,
        tenant,
        back=str(bound.get("rt") or "") or "/",
        subject=str(claims.get("sub", "")),
        subject_format=None,
        issuer=issuer,
        raw=raw,
        person=person,
        refusal=None if refusal is None else f"Would be refused: {refusal}",
    )
    clear_cookie(response, OIDC_COOKIE, f"/sso/{tenant.slug}/oidc/", "Lax")
    return response
