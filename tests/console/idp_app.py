"""The pysaml2 test IdP (``tests.sso.saml_idp``) behind a tiny web front, so a real browser can
sign in through it: the SP's redirect lands on ``/sso``; the page shows who will sign in and a
button that POSTs the signed response to the ACS the AuthnRequest named (the HTTP-POST binding,
as every IdP does it)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.sso.saml_idp import SamlIdP


@dataclass
class IdpFront:
    """Serves :attr:`idp` once it is set (it needs the SP's metadata, known later)."""

    person: str
    attributes: dict[str, list[str]]
    idp: SamlIdP | None = None
    requests: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/sso", self.sso)
        return app

    async def sso(self, request: web.Request) -> web.Response:
        from saml2 import BINDING_HTTP_REDIRECT

        assert self.idp is not None, "the IdP is not configured yet"
        parsed = self.idp.server.parse_authn_request(
            request.query["SAMLRequest"], BINDING_HTTP_REDIRECT
        )
        message: Any = parsed.message
        self.requests.append(message.id)
        encoded = self.idp.response(
            sp_entity_id=message.issuer.text,
            acs_url=message.assertion_consumer_service_url,
            name_id=self.person,
            in_response_to=message.id,
            attributes=self.attributes,
        )
        relay = request.query.get("RelayState", "")
        acs = html.escape(message.assertion_consumer_service_url)
        return web.Response(
            text=(
                "<!doctype html><html><head><title>Test IdP</title></head><body>"
                "<h1>Test IdP</h1>"
                f"<form method='post' action='{acs}'>"
                f"<input type='hidden' name='SAMLResponse' value='{encoded}'>"
                f"<input type='hidden' name='RelayState' value='{html.escape(relay)}'>"
                f"<button id='idp-continue'>Sign in as {html.escape(self.person)}</button>"
                "</form></body></html>"
            ),
            content_type="text/html",
        )
