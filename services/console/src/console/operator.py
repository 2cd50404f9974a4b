"""The operator console's handlers (mounted at ``/console``): sign-in, tenants, tokens, setup
links, runs. Thin: forms in, one admin API call, a page or a redirect out.

Bad input is answered with the same page and the message beside the form (status 400), and
nothing is changed; a secret (a SCIM token, a setup link) appears once, in the answer to the
POST that made it, never in a URL and never again.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from roster_shared.ids import is_slug

from console import guard
from console.backend import Backend, BackendError
from console.errors import FormError, NotFound, Unavailable
from console.keys import BACKEND, OPERATOR, SEALER, SESSION, SETTINGS
from console.pages import render
from console.views import MODES, tenant_overview

routes = web.RouteTableDef()

DONE = {
    "mode": "The provisioning mode was changed.",
    "policy": "The reconciler policy was saved.",
    "token-revoked": "The SCIM token was revoked: requests with it are refused from now on.",
    "link-revoked": "The setup link was revoked: it no longer opens.",
    "approved": "The held run was approved and carried out.",
    "rejected": "The held run was rejected: nobody was deactivated.",
}
"""Messages a redirect may ask for by key (never text from the URL)."""


def backend(request: web.Request) -> Backend:
    return request.app[BACKEND]


def reraise(error: BackendError) -> FormError:
    """A refusal for the form, or the page's own error when the API is down."""
    if error.client_mistake:
        return FormError(error.detail)
    raise Unavailable(
        "A service the console acts through did not answer; nothing was changed. Try again.",
        reason=str(error),
    ) from error


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


# -- sign-in ------------------------------------------------------------------------------


@routes.get("/signin")
async def signin_form(request: web.Request) -> web.Response:
    return render("signin.html", request, {})


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    given = (await _form(request)).get("token", "")
    expected = request.app[SETTINGS].admin_token
    assert expected is not None  # create_api refuses to start without it
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        return render(
            "signin.html",
            request,
            {
                "error": "That is not the admin credential (ROSTER_ADMIN_TOKEN). "
                "Nothing was signed in."
            },
            status=400,
        )
    response = web.HTTPSeeOther("/console/tenants")
    guard.sign_in(request.app[SEALER], response, request.app[SETTINGS].session_max_age)
    raise response


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    digest, until = request[SESSION]
    try:
        # Recorded before the cookie is cleared: a copy of the cookie must die with it.
        await backend(request).sign_out(digest, until)
    except BackendError as exc:
        raise Unavailable(
            "The sign-out could not be recorded, so the session is still valid. Try again.",
            reason=str(exc),
        ) from exc
    response = web.HTTPSeeOther("/console/signin")
    guard.sign_out(response)
    raise response


@routes.get("/")
async def home(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/tenants")


# -- tenants ------------------------------------------------------------------------------


async def _tenants_page(
    request: web.Request, *, error: str | None = None, form: dict[str, str] | None = None
) -> web.Response:
    query = request.query.get("q", "").strip().lower()
    try:
        tenants = await backend(request).tenants()
    except BackendError as exc:
        raise Unavailable("The user-store did not answer.", reason=str(exc)) from exc
    if query:
        tenants = [t for t in tenants if query in t.slug or query in (t.display_name or "").lower()]
    return render(
        "tenants.html",
        request,
        {"tenants": tenants, "q": query, "modes": MODES, "error": error, "form": form or {}},
        status=400 if error else 200,
    )


@routes.get("/tenants")
async def tenants_list(request: web.Request) -> web.Response:
    return await _tenants_page(request)


@routes.post("/tenants")
async def tenant_create(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    slug = form.get("slug", "").strip()
    mode = form.get("mode", "scim+jit")
    name = form.get("display_name", "").strip() or None
    try:
        if not is_slug(slug):
            raise FormError(
                "The tenant name (slug) must be 1-64 lower-case letters, digits and dashes, "
                "e.g. acme-corp."
            )
        if mode not in MODES:
            raise FormError(f"Choose a mode: {', '.join(MODES)}.")
        if name is not None and len(name) > 256:
            raise FormError("The display name is too long (256 characters at most).")
        try:
            tenant = await backend(request).create_tenant(slug, mode, name)
        except BackendError as exc:
            raise reraise(exc) from exc
    except FormError as exc:
        return await _tenants_page(request, error=exc.message, form=form)
    raise web.HTTPSeeOther(f"/console/tenants/{tenant.slug}")


async def tenant_page(
    request: web.Request,
    *,
    error: str | None = None,
    shown: dict[str, Any] | None = None,
    requirements: dict[str, Any] | None = None,
    status: int | None = None,
) -> web.Response:
    """The tenant's page; ``shown`` is a secret the POST before made (shown once)."""
    slug = request.match_info["slug"]
    try:
        overview = await tenant_overview(backend(request), slug, requirements=requirements)
    except BackendError as exc:
        if exc.status == 404:
            raise NotFound(f"There is no tenant {slug!r}.") from exc
        raise Unavailable("The user-store did not answer.", reason=str(exc)) from exc
    done = DONE.get(request.query.get("done", ""))
    context = {
        **overview,
        "error": error,
        "shown": shown or {},
        "done": done,
        "console_base": request.app[SETTINGS].console_base(),
    }
    return render("tenant.html", request, context, status=status or (400 if error else 200))


@routes.get("/tenants/{slug}")
async def tenant_show(request: web.Request) -> web.Response:
    response = await tenant_page(request, shown=guard.take_shown(request.app[SEALER], request))
    guard.forget_shown(request, response)
    return response


def _show_once(request: web.Request, shown: dict[str, Any]) -> web.HTTPSeeOther:
    """Back to the tenant's page, which shows ``shown`` (a token or link this POST made) once:
    POST-redirect-GET, so a reload neither makes another nor shows this one again."""
    page = f"/console/tenants/{request.match_info['slug']}"
    response = web.HTTPSeeOther(page)
    guard.show_once(request.app[SEALER], response, page, shown)
    return response


def _back(request: web.Request, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/console/tenants/{request.match_info['slug']}?done={done}")


async def _then_back(request: web.Request, change: Awaitable[Any], done: str) -> web.StreamResponse:
    """Make one change from the tenant page, then back to it (POST-redirect-GET, so a reload
    does not repeat it) saying what was ``done``; a refusal is shown on the page instead."""
    try:
        await change
    except BackendError as exc:
        return await tenant_page(request, error=reraise(exc).message)
    raise _back(request, done)


@routes.post("/tenants/{slug}/mode")
async def tenant_mode(request: web.Request) -> web.StreamResponse:
    mode = (await _form(request)).get("mode", "")
    if mode not in MODES:
        return await tenant_page(request, error=f"Choose a mode: {', '.join(MODES)}.")
    return await _then_back(
        request, backend(request).set_mode(request.match_info["slug"], mode), "mode"
    )


@routes.post("/tenants/{slug}/advice")
async def tenant_advice(request: web.Request) -> web.Response:
    form = await _form(request)
    idp = form.get("idp", "").strip()
    if not idp or len(idp) > 64:
        return await tenant_page(request, error="Name the customer's identity provider.")
    scim = form.get("scim_available", "usual")
    requirements = {
        "idp": idp,
        "soc2": form.get("soc2") == "on",
        "immediate_deprovisioning": form.get("immediate") == "on",
        "directory_api": form.get("directory_api") == "on",
        "scim_available": None if scim == "usual" else scim == "yes",
    }
    return await tenant_page(request, requirements=requirements)


@routes.post("/tenants/{slug}/tokens")
async def token_create(request: web.Request) -> web.StreamResponse:
    label = (await _form(request)).get("label", "").strip() or None
    if label is not None and len(label) > 256:
        return await tenant_page(request, error="The label is too long (256 characters at most).")
    try:
        issued = await backend(request).issue_token(request.match_info["slug"], label)
    except BackendError as exc:
        return await tenant_page(request, error=reraise(exc).message)
    raise _show_once(request, {"token": issued})


@routes.post("/tenants/{slug}/tokens/{token_id}/revoke")
async def token_revoke(request: web.Request) -> web.StreamResponse:
    slug, token_id = request.match_info["slug"], request.match_info["token_id"]
    return await _then_back(request, backend(request).revoke_token(slug, token_id), "token-revoked")


PARTS = ("sso", "scim", "directory")


@routes.post("/tenants/{slug}/links")
async def link_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    parts = [p for p in form.getall("parts", []) if isinstance(p, str)]
    hours_text = str(form.get("expires_in_hours", "72")).strip()
    label = str(form.get("label", "")).strip() or None
    if not parts or not set(parts) <= set(PARTS):
        return await tenant_page(
            request, error="Choose what the link may set up: SSO, SCIM, directory."
        )
    if not hours_text.isdigit() or not 1 <= int(hours_text) <= 720:
        return await tenant_page(request, error="The link must expire in 1 to 720 hours (30 days).")
    try:
        issued = await backend(request).create_link(
            request.match_info["slug"], parts, int(hours_text), label
        )
    except BackendError as exc:
        return await tenant_page(request, error=reraise(exc).message)
    url = f"{request.app[SETTINGS].console_base()}/setup/{issued['token']}"
    raise _show_once(request, {"link": {**issued, "url": url}})


@routes.post("/tenants/{slug}/links/{link_id}/revoke")
async def link_revoke(request: web.Request) -> web.StreamResponse:
    slug, link_id = request.match_info["slug"], request.match_info["link_id"]
    return await _then_back(request, backend(request).revoke_link(slug, link_id), "link-revoked")


@routes.post("/tenants/{slug}/runs/{run_id}/{decision:approve|reject}")
async def run_decide(request: web.Request) -> web.StreamResponse:
    decision = request.match_info["decision"]
    by = request.get(OPERATOR, "admin") + " (console)"
    slug, run_id = request.match_info["slug"], request.match_info["run_id"]
    change = backend(request).decide(slug, run_id, decision, by=by)
    return await _then_back(request, change, "approved" if decision == "approve" else "rejected")


POLICY_NUMBERS = {
    "interval_minutes": int,
    "inactivity_days": int,
    "consecutive_misses": int,
    "brake_share": float,
    "brake_count": int,
    "grace_days": int,
}
POLICY_SWITCHES = ("enabled", "deactivate_unconfirmed", "reactivate")


@routes.post("/tenants/{slug}/policy")
async def policy_set(request: web.Request) -> web.StreamResponse:
    """The reconciler's policy for the tenant; the reconciler validates each field and its
    refusal (a number out of range) is shown beside the form, nothing changed."""
    form = await _form(request)
    policy: dict[str, Any] = {name: form.get(name) == "on" for name in POLICY_SWITCHES}
    for name, kind in POLICY_NUMBERS.items():
        text = form.get(name, "").strip()
        if name == "inactivity_days" and text in ("", "off"):
            policy[name] = None
            continue
        try:
            policy[name] = kind(text)
        except ValueError:
            return await tenant_page(request, error=f"{name.replace('_', ' ')}: enter a number.")
    change = backend(request).set_policy(request.match_info["slug"], policy)
    return await _then_back(request, change, "policy")
