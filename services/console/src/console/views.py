"""What several pages show: the tenant of the path, a tenant's overview gathered from the APIs,
and words for modes.

Reads run concurrently (each is one request to an API); a part whose API refuses or does not
answer is shown as unavailable with the reason, and the rest of the page still renders.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from cryptography import x509
from roster_shared.tenants import TenantInfo

from console.backend import Backend, BackendError
from console.errors import NotFound, Unavailable
from console.health import source_health
from console.keys import BACKEND

T = TypeVar("T")

MODES = ("scim", "jit", "scim+jit")
MODE_WORDS = {
    "scim": "Users exist only once your IdP provisions them over SCIM. When your IdP "
    "deactivates or removes someone, Roster deactivates the account as soon as that SCIM "
    "request arrives and ends the person's sessions. A sign-in of someone SCIM has not "
    "provisioned is refused.",
    "jit": "Users are created at their first sign-in. Nothing tells Roster when someone "
    "leaves: access is removed only by the reconciler (a directory check or inactivity) and "
    "by sessions expiring, so removal is NOT immediate — the worst-case delay below applies.",
    "scim+jit": "SCIM manages the lifecycle: a deactivation from your IdP takes effect as soon "
    "as it arrives and ends sessions. Someone assigned in the IdP may sign in before SCIM has "
    "provisioned them (the account is created then and adopted by SCIM later); a sign-in never "
    "reactivates an account SCIM deactivated.",
}


async def attempt(call: Awaitable[T]) -> T | BackendError:
    """The call's result, or the error it raised (shown on the page in its place)."""
    try:
        return await call
    except BackendError as error:
        return error


async def tenant_of(request: web.Request) -> TenantInfo:
    """The tenant named in the path (``{slug}``): a 404 page if there is none, a 503 page if the
    user-store does not answer."""
    slug = request.match_info["slug"]
    try:
        tenant, _ = await request.app[BACKEND].tenant(slug)
    except BackendError as exc:
        if exc.status == 404:
            raise NotFound(f"There is no tenant {slug!r}.") from exc
        raise Unavailable("The user-store did not answer.", reason=str(exc)) from exc
    return tenant


def cert_expiry(cert_b64: str) -> dict[str, Any]:
    """A SAML signing certificate's subject and expiry, in days from now."""
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    except (ValueError, binascii.Error):
        return {"subject": "unreadable certificate", "expires": None, "days": None}
    expires = cert.not_valid_after_utc
    days = (expires - datetime.now(UTC)).days
    return {"subject": cert.subject.rfc4514_string(), "expires": expires, "days": days}


def advice_requirements(tenant: TenantInfo, sso: dict[str, Any] | BackendError) -> dict[str, Any]:
    """The requirements the overview advises on: the IdP of the tenant's mapping preset, and
    immediate deprovisioning wanted (what most security policies ask)."""
    mapping = sso.get("mapping") if isinstance(sso, dict) else None
    idp = mapping if isinstance(mapping, str) and mapping != "generic" else "generic"
    return {"idp": idp, "immediate_deprovisioning": True}


async def tenant_overview(
    backend: Backend, slug: str, *, requirements: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything the tenant page shows (the tenant itself must exist: its error propagates)."""
    tenant, tokens = await backend.tenant(slug)
    sso, runs, links, health, scim_log, sso_log = await asyncio.gather(
        attempt(backend.sso(tenant.slug)),
        attempt(backend.runs(tenant.slug)),
        attempt(backend.links(tenant.slug)),
        attempt(backend.health(tenant.slug)),
        attempt(backend.request_log(tenant.slug, "scim", 10)),
        attempt(backend.request_log(tenant.slug, "sso", 10)),
    )
    wanted = requirements or advice_requirements(tenant, sso)
    advice = await attempt(backend.advise(wanted))
    certs = []
    if isinstance(sso, dict) and sso.get("saml"):
        certs = [cert_expiry(c) for c in sso["saml"].get("signing_certs", [])]
    last_used = health.get("token_last_used", {}) if isinstance(health, dict) else {}
    return {
        "tenant": tenant,
        "tokens": [{**t, "last_used": last_used.get(t["id"])} for t in tokens],
        "sso": sso,
        "certs": certs,
        "runs": runs,
        "links": links,
        "health": health,
        "scim_health": source_health(health["scim"]) if isinstance(health, dict) else None,
        "sso_health": source_health(health["sso"]) if isinstance(health, dict) else None,
        "scim_log": scim_log,
        "sso_log": sso_log,
        "advice": advice,
        "requirements": wanted,
        "mode_words": MODE_WORDS,
        "modes": MODES,
        "directory": tenant.settings.get("directory"),
        "policy": tenant.settings.get("reconciler"),
    }
