"""Who may use the console, and which forms are genuine.

- **Operators** sign in with the admin credential (``ROSTER_ADMIN_TOKEN``, compared in constant
  time) and get a sealed session cookie (``roster_console``: HttpOnly, Secure, SameSite=Strict,
  path ``/console``, expiring). Every console page but the sign-in form needs it.
- **Forms** (console and setup portal alike) carry a CSRF token: the HMAC of a random nonce held
  in a sealed cookie of its own (``roster_form``), under a key derived for that purpose. A POST
  whose token is missing or does not match the browser's nonce is refused before any handler
  runs, so a page on another site cannot submit a form on an operator's or a customer admin's
  behalf (SameSite=Strict cookies are the second line, not the only one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from console.errors import Forbidden
from console.keys import CSRF, OPERATOR
from console.seal import BadSeal, Sealer

SESSION_COOKIE = "roster_console"
FORM_COOKIE = "roster_form"
FORM_FIELD = "csrf"
FORM_MAX_AGE = 24 * 3600


def _secure_cookie(
    response: web.StreamResponse, name: str, value: str, *, path: str, max_age: int
) -> None:
    response.set_cookie(
        name, value, path=path, max_age=max_age, httponly=True, secure=True, samesite="Strict"
    )


def csrf_token(sealer: Sealer, nonce: str) -> str:
    """The form token of a browser's nonce."""
    return hmac.new(sealer.key("csrf"), nonce.encode(), hashlib.sha256).hexdigest()


def forms_middleware(sealer: Sealer) -> Middleware:
    """Give each page a form token; refuse a POST without the right one."""

    @web.middleware
    async def forms(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonce: str | None
        try:
            nonce = str(sealer.loads("form", request.cookies.get(FORM_COOKIE))["n"])
        except (BadSeal, KeyError):
            nonce = None
        if request.method == "POST":
            form = await request.post()
            given = form.get(FORM_FIELD)
            if (
                nonce is None
                or not isinstance(given, str)
                or not hmac.compare_digest(given, csrf_token(sealer, nonce))
            ):
                raise Forbidden(
                    "This form is missing its security token or was opened in another browser "
                    "session, so nothing was changed. Reload the page and try again.",
                    reason="CSRF token missing or wrong" if nonce else "no form cookie",
                )
        fresh = nonce is None
        nonce = nonce or secrets.token_urlsafe(16)
        request[CSRF] = csrf_token(sealer, nonce)
        response = await handler(request)
        if fresh:
            sealed = sealer.dumps("form", {"n": nonce}, max_age=FORM_MAX_AGE)
            _secure_cookie(response, FORM_COOKIE, sealed, path="/", max_age=FORM_MAX_AGE)
        return response

    return forms


def operator_middleware(sealer: Sealer, open_paths: tuple[str, ...]) -> Middleware:
    """Console pages need an operator's session; without one, the sign-in form."""

    @web.middleware
    async def operator(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths or request.path.startswith("/console/static/"):
            return await handler(request)
        try:
            session = sealer.loads("session", request.cookies.get(SESSION_COOKIE))
        except BadSeal:
            raise web.HTTPSeeOther("/console/signin") from None
        request[OPERATOR] = str(session.get("by", "admin"))
        return await handler(request)

    return operator


def sign_in(sealer: Sealer, response: web.StreamResponse, max_age: int) -> None:
    """Start an operator's session."""
    value = sealer.dumps(
        "session", {"sid": secrets.token_urlsafe(16), "by": "admin"}, max_age=max_age
    )
    _secure_cookie(response, SESSION_COOKIE, value, path="/console", max_age=max_age)


def sign_out(response: web.StreamResponse) -> None:
    """End it (the cookie is cleared; a sealed value expires on its own)."""
    _secure_cookie(response, SESSION_COOKIE, "", path="/console", max_age=0)
