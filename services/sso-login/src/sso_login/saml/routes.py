"""SAML handlers: per-tenant SP metadata, SP-initiated login, the assertion consumer service.

Paths are relative to the mount point ``/sso``; the protocol checks are in the modules beside
this one (:mod:`.response`, :mod:`.bindings`, :mod:`.metadata`).
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from roster_shared.events.text import correlation
from roster_shared.tenants import TenantInfo

from sso_login import preview
from sso_login.connections import SamlConnection, SsoConfig
from sso_login.errors import Refused, Unavailable
from sso_login.keys import Context
from sso_login.mapping import MappingError, map_user, saml_link_keys
from sso_login.relay import DEFAULT_LANDING, safe_target
from sso_login.routes import (
    BAD_RESPONSE,
    SAML_COOKIE,
    claim_once,
    clear_cookie,
    config_of,
    context,
    finish_login,
    login_start,
    read_form,
    redirect,
    saml_connection,
    set_cookie,
    tenant_of,
)
from sso_login.saml.bindings import authn_request
from sso_login.saml.errors import SamlError
from sso_login.saml.metadata import sp_metadata
from sso_login.saml.response import SamlAssertion, validate_response
from sso_login.saml.sp import SpUrls, sp_urls
from sso_login.tokens import BadToken
from sso_login.workers import Busy, OverBudget

routes = web.RouteTableDef()


def _urls(request: web.Request, tenant: TenantInfo) -> SpUrls:
    return sp_urls(context(request).settings.public_url, tenant.slug)


async def _validated(
    ctx: Context, encoded: str, urls: SpUrls, connection: SamlConnection, request_id: str | None
) -> SamlAssertion:
    """Every check of one ``SAMLResponse`` (:func:`.response.validate_response`), off the event
    loop, bounded and within a time budget (:mod:`sso_login.workers`). A full pool is a 503 to
    try again; a failed check raises :class:`SamlError` (or :class:`OverBudget`) for the caller:
    a real login refuses, a Test sign-in shows it."""
    try:
        return await ctx.xml_workers.run(
            validate_response,
            encoded,
            urls=urls,
            connection=connection,
            request_id=request_id,
            skew=timedelta(seconds=ctx.settings.clock_skew),
            max_bytes=ctx.settings.max_saml_response_bytes,
            keys=ctx.sp_keys,
        )
    except Busy as exc:
        raise Unavailable(
            "Sign-in is busy right now; please try again in a moment.", reason=f"SAML: {exc}"
        ) from exc


@routes.get("/{tenant}/saml/metadata")
async def saml_metadata(request: web.Request) -> web.Response:
    """Our SP metadata for the tenant, served before any IdP is connected."""
    tenant = await tenant_of(request)
    return web.Response(
        text=sp_metadata(_urls(request, tenant), context(request).sp_keys),
        content_type="application/samlmetadata+xml",
    )


@routes.get("/{tenant}/saml/login")
async def saml_login(request: web.Request) -> web.Response:
    """SP-initiated login: an AuthnRequest whose id is bound to this browser."""
    tenant = await tenant_of(request)
    config = config_of(tenant)
    connection = saml_connection(config)
    test, target = await login_start(request, tenant, config)
    ctx = context(request)
    authn = authn_request(_urls(request, tenant), connection, None, ctx.sp_keys)
    cookie = ctx.sealer.dumps(
        "saml-login",
        {"tid": tenant.id, "rid": authn.id, "rt": target, **({"test": True} if test else {})},
        max_age=ctx.settings.login_state_ttl,
    )
    response: web.Response
    if authn.redirect_url is not None:
        response = redirect(authn.redirect_url)
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
    set_cookie(
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
    ctx = context(request)
    settings = ctx.settings
    form = await read_form(request, settings.max_saml_response_bytes * 2)
    tenant = await tenant_of(request)
    config = config_of(tenant)
    connection = saml_connection(config)
    encoded = form.get("SAMLResponse")
    if not encoded:
        raise Refused(BAD_RESPONSE, reason="no SAMLResponse")
    bound: dict[str, Any] | None = None
    try:
        bound = ctx.sealer.loads("saml-login", request.cookies.get(SAML_COOKIE))
    except BadToken:
        bound = None
    if bound is not None and bound.get("tid") != tenant.id:
        bound = None
    request_id = str(bound["rid"]) if bound else None
    urls = _urls(request, tenant)
    if bound is not None and bound.get("test"):
        return await _test_acs(request, tenant, config, encoded, urls, request_id, bound)
    try:
        assertion = await _validated(ctx, encoded, urls, connection, request_id)
    except (SamlError, OverBudget) as exc:
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
    if not await claim_once(request, tenant, claim, expires):
        raise Refused(BAD_RESPONSE, reason=f"replayed assertion {assertion.assertion_id}")
    try:
        keys = saml_link_keys(
            assertion.attributes,
            name_id=assertion.name_id,
            name_id_format=assertion.name_id_format,
            mapping=config.mapping,
        )
        person = map_user(
            assertion.attributes,
            subject=assertion.name_id,
            mapping=config.mapping,
            link_keys=keys,
        )
    except (MappingError, ValidationError) as exc:
        # ValidationError: a link key the shared contract refuses (a NUL in the NameID...).
        raise Refused(BAD_RESPONSE, reason=str(exc)) from exc
    response = await finish_login(
        request,
        tenant,
        config,
        person,
        issuer=assertion.issuer,
        subject_format=assertion.name_id_format,
        protocol="saml",
        target=target,
        correlation_id=correlation(assertion.assertion_id),
    )
    clear_cookie(response, SAML_COOKIE, f"/sso/{tenant.slug}/saml/", "None")
    return response


async def _test_acs(
    request: web.Request,
    tenant: TenantInfo,
    config: SsoConfig,
    encoded: str,
    urls: SpUrls,
    request_id: str | None,
    bound: dict[str, Any],
) -> web.Response:
    """The ACS of a Test sign-in: every check of a real one, then a page instead of a login."""
    ctx = context(request)
    settings = ctx.settings
    back = str(bound.get("rt") or "")
    shown: dict[str, Any] = {
        "subject": "",
        "subject_format": None,
        "issuer": "",
        "raw": {},
        "person": None,
        "refusal": None,
    }
    try:
        assertion = await _validated(ctx, encoded, urls, saml_connection(config), request_id)
    except (SamlError, OverBudget) as exc:
        shown["refusal"] = f"Would be refused: the SAML response failed a check: {exc}"
    else:
        shown.update(
            subject=assertion.name_id,
            subject_format=assertion.name_id_format,
            issuer=assertion.issuer,
            raw=assertion.attributes,
        )
        expires = assertion.not_on_or_after + timedelta(seconds=settings.clock_skew)
        claim = f"saml:{assertion.issuer}:{assertion.assertion_id}"[:512]
        try:
            if not await claim_once(request, tenant, claim, expires):
                raise MappingError(f"this assertion ({assertion.assertion_id}) was used before")
            keys = saml_link_keys(
                assertion.attributes,
                name_id=assertion.name_id,
                name_id_format=assertion.name_id_format,
                mapping=config.mapping,
            )
            shown["person"] = map_user(
                assertion.attributes,
                subject=assertion.name_id,
                mapping=config.mapping,
                link_keys=keys,
            )
        except MappingError as exc:
            shown["refusal"] = f"Would be refused: {exc}"
    response = await preview.page(request, tenant, back=back or "/", **shown)
    clear_cookie(response, SAML_COOKIE, f"/sso/{tenant.slug}/saml/", "None")
    return response
