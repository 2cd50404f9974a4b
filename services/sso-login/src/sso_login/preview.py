"""Test sign-in: a real sign-in through the tenant's IdP that shows what arrived, and changes
nothing — no account is created or updated, and no session is issued.

The customer's admin starts it from the setup portal (``/sso/{tenant}/saml/login?test=1``). The
assertion goes through every check a real sign-in's does (signature, audience, recipient,
time, InResponseTo bound to this browser, the replay cache); then, instead of asking the
user-store to provision, the page shows the subject, every attribute, the groups, what the
tenant's mapping made of them, the link keys, and a preview of the user-store's decision from
the tenant's mode and the account that has that userName now. The preview reads only (the
internal API's user query); the user-store's own rules decide a real sign-in, which may refuse
for a reason the preview cannot see (an identity link to another subject, say).
"""

from __future__ import annotations

import html

import aiohttp
from aiohttp import web
from roster_shared.filters import Compare, ListQuery
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.userstore_client import UserStoreClientError

from sso_login import request_log
from sso_login.keys import USER_STORE
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
    request: web.Request, tenant: TenantInfo, person: MappedUser
) -> tuple[bool, str]:
    """(would sign in, why) from the tenant's mode and the account with that userName now."""
    query = ListQuery(
        filter=Compare(attr="userName", op="eq", value=person.attributes.user_name), count=1
    )
    try:
        page = await request.app[USER_STORE].users(tenant.id, query)
    except (UserStoreClientError, aiohttp.ClientError, TimeoutError):
        return False, "The user-store did not answer, so no decision can be previewed."
    user = page.items[0] if page.items else None
    mode = tenant.mode
    if user is None:
        if mode is ProvisioningMode.SCIM:
            return False, (
                f"Would be refused: mode scim, and SCIM has not provisioned "
                f"{person.attributes.user_name!r}. Assign the person in your IdP and let it push "
                "them over SCIM first."
            )
        return True, (
            f"Would sign in: a new account {person.attributes.user_name!r} would be created at "
            "this sign-in (JIT)"
            + (", and SCIM would adopt it later." if mode is ProvisioningMode.SCIM_JIT else ".")
        )
    if not user.active:
        if mode.scim_owns_lifecycle:
            return False, (
                f"Would be refused: the account {user.user_name!r} is deactivated, and in mode "
                f"{mode.value} a sign-in never reactivates what SCIM deactivated."
            )
        return False, (
            f"Would be refused: the account {user.user_name!r} is deactivated "
            f"({user.deactivated_reason or 'no reason recorded'}) until the directory says "
            "the person is active again."
        )
    return True, f"Would sign in as the existing account {user.user_name!r}."


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
        ok, verdict = await decision(request, tenant, person)
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
