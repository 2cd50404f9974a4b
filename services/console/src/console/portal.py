"""The setup portal for the customer's IT admin (mounted at ``/setup``): no account, only the
link. Every request opens the link again through the user-store, so a revoked or expired link
stops working at once, and acts only within the parts the link was made for.

It shows the guide of the admin's IdP with our exact values, takes the IdP's metadata (or an
OpenID provider's issuer and client), mints a SCIM token (shown once), shows the SCIM requests as
they arrive, and says what the tenant's mode means for removing a leaver's access. Changes go
through the same admin APIs the CLI uses; the link only decides which ones the portal may call.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from console import guard
from console.backend import BackendError
from console.errors import FormError, LinkGone, LinkInvalid, Unavailable
from console.guides import GUIDES, fill
from console.health import plain_status, source_health
from console.keys import BACKEND, SEALER, SETTINGS
from console.pages import render
from console.views import MODE_WORDS, attempt

routes = web.RouteTableDef()
MAX_METADATA = 512 * 1024


async def open_link(request: web.Request) -> tuple[dict[str, Any], Any]:
    """The live link of the path and its tenant, or the page that says why not."""
    try:
        return await request.app[BACKEND].open_link(request.match_info["link"])
    except BackendError as exc:
        if exc.status == 410:
            raise LinkGone(exc.detail.capitalize() + ".", reason=exc.detail) from exc
        if exc.status in (400, 404):
            raise LinkInvalid(
                "This setup link is not valid. Check that it was copied whole, or ask your "
                "contact for a new one.",
                reason=exc.detail,
            ) from exc
        raise Unavailable(
            "Setup is unavailable right now; please try again.", reason=str(exc)
        ) from exc


def _allowed(link: dict[str, Any], part: str) -> None:
    if part not in link["parts"]:
        raise FormError(f"This link was not made for setting up {part.upper()}.")


async def portal_page(
    request: web.Request,
    *,
    error: str | None = None,
    done: str | None = None,
    shown: dict[str, Any] | None = None,
    status: int | None = None,
    opened: tuple[dict[str, Any], Any] | None = None,
) -> web.Response:
    link, tenant = opened or await open_link(request)
    backend = request.app[BACKEND]
    idp = request.query.get("idp", "")
    guide = GUIDES.get(idp)
    sso, health, scim_log, sso_log, runs = await asyncio.gather(
        attempt(backend.sso(tenant.slug)),
        attempt(backend.health(tenant.slug)),
        attempt(backend.request_log(tenant.slug, "scim", 10)),
        attempt(backend.request_log(tenant.slug, "sso", 5)),
        attempt(backend.runs(tenant.slug, 5)),
    )
    sp = sso.get("service_provider", {}) if isinstance(sso, dict) else {}
    settings = request.app[SETTINGS]
    values = {
        "entity_id": sp.get("entity_id", ""),
        "acs_url": sp.get("acs_url", ""),
        "metadata_url": sp.get("metadata_url", ""),
        "redirect_uri": sp.get("oidc_redirect_uri", ""),
        "scim_base": f"{settings.public_url.rstrip('/')}/scim/v2/{tenant.slug}/",
    }
    context = {
        "link": link,
        "token": request.match_info["link"],
        "tenant": tenant,
        "guides": GUIDES,
        "guide": guide,
        "idp": idp,
        "steps": [fill(s, values) for s in guide.sso_steps] if guide else [],
        "scim_steps": [fill(s, values) for s in guide.scim_steps] if guide else [],
        "values": values,
        "sso": sso,
        "health": health,
        "scim_health": source_health(health["scim"]) if isinstance(health, dict) else None,
        "scim_log": scim_log,
        "sso_log": sso_log,
        "runs": runs if isinstance(runs, list) else [],
        "plain_status": plain_status,
        "mode_words": MODE_WORDS.get(tenant.mode.value, ""),
        "error": error,
        "done": done,
        "shown": shown or {},
    }
    return render("portal.html", request, context, status=status or (400 if error else 200))


@routes.get("/{link}")
async def portal(request: web.Request) -> web.Response:
    carried = guard.take_shown(request.app[SEALER], request) or {}
    response = await portal_page(request, done=carried.get("done"), shown=carried.get("shown"))
    guard.forget_shown(request, response)
    return response


async def _act(request: web.Request, part: str, action: Any) -> web.StreamResponse:
    """Open the link, check its part, run ``action(tenant, form)``: done, back to the portal's
    page saying so; refused, the page with the reason."""
    opened = await open_link(request)
    link, tenant = opened
    try:
        _allowed(link, part)
        form = await request.post()
        done, shown = await action(tenant, form)
    except FormError as exc:
        return await portal_page(request, error=exc.message, opened=opened)
    except BackendError as exc:
        if not exc.client_mistake:
            raise Unavailable(
                "Setup is unavailable right now; nothing was changed.", reason=str(exc)
            ) from exc
        return await portal_page(request, error=exc.detail, opened=opened)
    # POST-redirect-GET: what was done (and a token made, shown once) rides to the page in a
    # sealed cookie, so a reload repeats nothing.
    page = f"/setup/{request.match_info['link']}"
    idp = request.query.get("idp", "")
    response = web.HTTPSeeOther(page + (f"?idp={quote(idp, safe='')}" if idp else ""))
    guard.show_once(request.app[SEALER], response, page, {"done": done, "shown": shown})
    raise response


@routes.post("/{link}/saml")
async def connect_saml(request: web.Request) -> web.StreamResponse:
    async def action(tenant: Any, form: Any) -> tuple[str, None]:
        upload = form.get("metadata_file")
        xml = ""
        # A file field without a chosen file arrives as bare bytes (no FileField).
        raw = (
            upload.file.read(MAX_METADATA + 1)
            if isinstance(upload, web.FileField)
            else bytes(upload)
            if isinstance(upload, bytes | bytearray)
            else b""
        )
        if raw:
            if len(raw) > MAX_METADATA:
                raise FormError("That metadata file is too large (512 KiB at most).")
            try:
                xml = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormError(
                    "That file is not an XML metadata document (not UTF-8 text)."
                ) from exc
        if not xml.strip():
            xml = str(form.get("metadata_xml", ""))
        if not xml.strip():
            raise FormError("Upload your IdP's metadata file or paste its XML.")
        backend = request.app[BACKEND]
        await backend.connect_saml(tenant.slug, xml)
        guide = GUIDES.get(str(form.get("idp", "")))
        if guide is not None:
            await backend.set_mapping(tenant.slug, guide.mapping)
        return "Your SAML identity provider is connected. Try Test sign-in next.", None

    return await _act(request, "sso", action)


@routes.post("/{link}/test-sign-in")
async def test_sign_in(request: web.Request) -> web.StreamResponse:
    """Test sign-in: a ticket from sso-login for this tenant (only a live link's holder gets
    one), then off to the IdP with it; the result page links back here."""

    async def action(tenant: Any, form: Any) -> tuple[str, None]:
        backend = request.app[BACKEND]
        sso = await backend.sso(tenant.slug)
        kind = "saml" if sso.get("saml") else "oidc" if sso.get("oidc") else None
        if kind is None:
            raise FormError("Connect your IdP first.")
        ticket = await backend.test_ticket(tenant.slug)
        idp = request.query.get("idp", "")
        back = f"/setup/{request.match_info['link']}" + (
            f"?{urlencode({'idp': idp})}" if idp else ""
        )
        start = urlencode({"test": ticket, "return_to": back})
        public_url = request.app[SETTINGS].public_url.rstrip("/")
        raise web.HTTPSeeOther(f"{public_url}/sso/{tenant.slug}/{kind}/login?{start}")

    return await _act(request, "sso", action)


@routes.post("/{link}/oidc")
async def connect_oidc(request: web.Request) -> web.StreamResponse:
    async def action(tenant: Any, form: Any) -> tuple[str, None]:
        body = {k: str(form.get(k, "")).strip() for k in ("issuer", "client_id", "client_secret")}
        missing = [k.replace("_", " ") for k, v in body.items() if not v]
        if missing:
            raise FormError(f"Fill in: {', '.join(missing)}.")
        await request.app[BACKEND].connect_oidc(tenant.slug, body)
        return "Your OpenID provider is connected. Try Test sign-in next.", None

    return await _act(request, "sso", action)


@routes.post("/{link}/scim-token")
async def scim_token(request: web.Request) -> web.StreamResponse:
    async def action(tenant: Any, form: Any) -> tuple[str, dict[str, Any]]:
        label = str(form.get("label", "")).strip()[:200] or "setup portal"
        issued = await request.app[BACKEND].issue_token(tenant.slug, label)
        return "A SCIM token was minted.", {"token": issued}

    return await _act(request, "scim", action)


DIRECTORIES = ("graph", "okta", "google", "scim")


@routes.post("/{link}/directory")
async def connect_directory(request: web.Request) -> web.StreamResponse:
    """A read-only directory credential for the reconciler's cross-check (stored encrypted by
    the reconciler; never shown again)."""

    async def action(tenant: Any, form: Any) -> tuple[str, None]:
        kind = str(form.get("kind", ""))
        url = str(form.get("url", "")).strip() or None
        token = str(form.get("token", "")).strip()
        if kind not in DIRECTORIES:
            raise FormError(f"Choose the directory: {', '.join(DIRECTORIES)}.")
        if not token:
            raise FormError("Paste the read-only API token for the directory.")
        await request.app[BACKEND].connect_directory(tenant.slug, kind, url, token)
        return "Your directory is connected: the reconciler will cross-check it.", None

    return await _act(request, "directory", action)
