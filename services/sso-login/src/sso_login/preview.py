"""Test sign-in: a real sign-in through the tenant's IdP that shows what arrived, and changes
nothing — no account is created or updated, and no session is issued.

The customer's admin starts it from the setup portal
(``/sso/{tenant}/saml/login?test=<ticket>``; only the portal can get a ticket:
:mod:`sso_login.test_tickets`). The assertion goes through every check a real sign-in's does
(signature, audience, recipient, time, InResponseTo bound to this browser, the replay cache);
then, instead of asking the user-store to provision, the page shows the subject, every
attribute, the groups, what the tenant's mapping made of them, the link keys, and the
user-store's verdict: the login event a real sign-in would publish, decided by the user-store's own
rules as a dry run that commits nothing (``POST /internal/tenants/{t}/logins/dry-run``), so a
refusal shows its real reason (an identity link to another subject, a deactivated account, a
mode that refuses JIT).
"""

from __future__ import annotations

import html

import aiohttp
from aiohttp import web
from roster_shared.events.replies import ErrorCode
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.userstore_client import UserStoreClientError

from sso_login import request_log
from sso_login.errors import LoginError
from sso_login.keys import USER_STORE
from sso_login.login import login_event
from sso_login.mapping import MappedUser

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Test sign-in</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:900px;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.3rem;
text-align:left;vertical-align:top}}.bad{{color:#b42318}}.ok{{color:#067647}}code{{word-break:break-all}}
</style></head><body><h1>Test sign-in for {tenant}</h1>
<p>Nothing was created or changed, and you are not signed in to the application.</p>
<h2 id="verdict" class="{verdict_class}">{verdict}</h2>{body}
<p><a href="{back}">Back</a></p></body></html>"""


def _rows(pairs: list[tuple[str, str]]) -> str:
    return (
        "<table>"
        + "".join(
            f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in pairs
        )
        + "</table>"
    )


async def decision(
    request: web.Request,
    tenant: TenantInfo,
    person: MappedUser,
    *,
    issuer: str,
    subject_format: str | None,
) -> tuple[bool, str]:
    """(would sign in, why), decided by the user-store's own rules on the very login event a
    real sign-in would publish, as a dry run that keeps nothing (``user_store.login_dry_run``)."""
    try:
        event = login_event(
            tenant, person, issuer=issuer, subject_format=subject_format, correlation_id=None
        )
    except LoginError as exc:
        return False, f"Would be refused: {exc.reason or exc.detail}"
    try:
        verdict = await request.app[USER_STORE].dry_run_login(event)
    except (UserStoreClientError, aiohttp.ClientError, TimeoutError):
        return False, "The user-store did not answer, so no verdict can be given."
    reply, name = verdict.reply, person.attributes.user_name
    if reply.error is not None:
        # The user-store's own words (never the other account's id: existing_id is not shown).
        said = f" (the user-store's reason: {reply.error.detail})"
        match reply.error.code:
            case ErrorCode.NOT_PROVISIONED:
                return False, (
                    f"Would be refused: mode {tenant.mode.value}, and SCIM has not provisioned "
                    f"{name!r}. Assign the person in your IdP and let it push them over SCIM "
                    "first." + said
                )
            case ErrorCode.DEACTIVATED:
                return False, f"Would be refused: the account is deactivated{said}."
            case ErrorCode.LINK_REFUSED:
                return False, (
                    "Would be refused: this sign-in cannot be matched safely to an account"
                    f"{said}. Check which subject and verified e-mail your IdP sends."
                )
            case _:
                return False, f"Would be refused: {reply.error.code.value}{said}."
    if reply.user is None or not reply.user.active:
        return False, "Would be refused: the account is not active."
    if reply.created:
        return True, (
            f"Would sign in: a new account {name!r} would be created at this sign-in (JIT)"
            + (
                ", and SCIM would adopt it later."
                if tenant.mode is ProvisioningMode.SCIM_JIT
                else "."
            )
        )
    changes = ", ".join(verdict.changed)
    return True, (
        f"Would sign in as the existing account {reply.user.user_name!r}"
        + (f", updating {changes}." if changes else ", unchanged.")
    )


async def page(
    request: web.Request,
    tenant: TenantInfo,
    *,
    back: str,
    subject: str,
    subject_format: str | None,
    issuer: str,
    raw: dict[str, list[str]],
    person: MappedUser | None,
    refusal: str | None,
) -> web.Response:
    """The result page (status 200: the test itself worked, whatever it found)."""
    body = [
        "<h3>What your IdP sent</h3>",
        _rows(
            [("Issuer", issuer), ("Subject (NameID / sub)", subject)]
            + ([("Subject format", subject_format)] if subject_format else [])
            + [(name, ", ".join(values)) for name, values in sorted(raw.items())]
        ),
    ]
    if person is not None:
        attrs = person.attributes
        body += [
            "<h3>How the mapping read it</h3>",
            _rows(
                [
                    ("userName", attrs.user_name),
                    ("e-mails", ", ".join(e.value for e in attrs.emails) or "none"),
                    ("given name", attrs.given_name or "none"),
                    ("family name", attrs.family_name or "none"),
                    ("display name", attrs.display_name or "none"),
                    ("groups", ", ".join(person.groups or ()) or "none"),
                    (
                        "may link on",
                        ", ".join(f"{k.match}={k.value}" for k in person.link_keys)
                        or "nothing (only its own identity link)",
                    ),
                ]
            ),
        ]
    if refusal is not None:
        verdict, ok = refusal, False
    else:
        assert person is not None
        ok, verdict = await decision(
            request, tenant, person, issuer=issuer, subject_format=subject_format
        )
    request_log.record(request, 200 if ok else 403, reason=None if ok else f"test: {verdict}")
    return web.Response(
        text=PAGE.format(
            tenant=html.escape(tenant.display_name or tenant.slug),
            verdict=html.escape(verdict),
            verdict_class="ok" if ok else "bad",
            body="".join(body),
            back=html.escape(back),
        ),
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )
