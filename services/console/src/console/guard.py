"""Who may use the console, and which forms are genuine.

- **Operators** sign in with the admin credential (``ROSTER_ADMIN_TOKEN``, compared in constant
  time) and get a sealed session cookie (``roster_console``: HttpOnly, Secure, SameSite=Strict,
  path ``/console``, expiring). Every console page but the sign-in form needs it. Sign-out
  also records the session's id at the user-store (:meth:`Backend.sign_out`), and every
  request checks that record, so a copied cookie is refused after sign-out on every console
  process (why there: see ``user_store.console_sessions``).
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
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from console.backend import Backend, BackendError
from console.errors import Forbidden, Unavailable
from console.keys import CSRF, OPERATOR, SESSION
from console.seal import BadSeal, Sealer

SESSION_COOKIE = "roster_console"
FORM_COOKIE = "roster_form"
FORM_FIELD = "csrf"
FORM_MAX_AGE = 24 * 3600
SHOWN_COOKIE = "roster_shown"
SHOWN_MAX_AGE = 300  # the redirect it rides on is followed at once


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


def session_hash(sid: str) -> str:
    """What the user-store keeps of a session id (the id itself never leaves the cookie)."""
    return hashlib.sha256(sid.encode()).hexdigest()


def operator_middleware(
    sealer: Sealer, backend: Backend, open_paths: tuple[str, ...], max_age: int
) -> Middleware:
    """Console pages need an operator's session that was not signed out; without one, the
    sign-in form."""

    @web.middleware
    async def operator(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths or request.path.startswith("/console/static/"):
            return await handler(request)
        try:
            session = sealer.loads("session", request.cookies.get(SESSION_COOKIE))
            sid = str(session["sid"])
        except (BadSeal, KeyError):
            raise web.HTTPSeeOther("/console/signin") from None
        digest = session_hash(sid)
        try:
            signed_out = await backend.signed_out(digest)
        except BackendError as exc:
            # Fail closed: a session whose sign-out cannot be checked is not honoured.
            raise Unavailable(
                "The user-store did not answer, so the session cannot be checked.",
                reason=str(exc),
            ) from exc
        if signed_out:
            raise web.HTTPSeeOther("/console/signin")
        request[OPERATOR] = str(session.get("by", "admin"))
        until = session.get("until")
        request[SESSION] = (
            digest,
            int(until) if isinstance(until, int) else int(time.time()) + max_age,
        )
        return await handler(request)

    return operator


def sign_in(sealer: Sealer, response: web.StreamResponse, max_age: int) -> None:
    """Start an operator's session."""
    until = int(time.time()) + max_age
    value = sealer.dumps(
        "session",
        {"sid": secrets.token_urlsafe(16), "by": "admin", "until": until},
        max_age=max_age,
    )
    _secure_cookie(response, SESSION_COOKIE, value, path="/console", max_age=max_age)


def sign_out(response: web.StreamResponse) -> None:
    """Clear the cookie (the caller has recorded the sign-out at the user-store first)."""
    _secure_cookie(response, SESSION_COOKIE, "", path="/console", max_age=0)


def show_once(
    sealer: Sealer, response: web.StreamResponse, page: str, data: dict[str, Any]
) -> None:
    """Carry what a POST made and must show once (a signing secret) to the ``page`` it redirects
    to, and only there (POST-redirect-GET: a reload of that page then repeats nothing).

    It rides in a cookie sealed like the session (AES-256-GCM: unreadable without the console's
    secret), bound to the page's path, for minutes at most; :func:`take_shown` reads it once."""
    sealed = sealer.dumps("shown", {"page": page, **data}, max_age=SHOWN_MAX_AGE)
    _secure_cookie(response, SHOWN_COOKIE, sealed, path=page, max_age=SHOWN_MAX_AGE)


def take_shown(sealer: Sealer, request: web.Request) -> dict[str, Any] | None:
    """What :func:`show_once` carried to this page (None: nothing, another page's, expired);
    the page's response then calls :func:`forget_shown`, so that it is shown this once."""
    try:
        data = sealer.loads("shown", request.cookies.get(SHOWN_COOKIE))
    except BadSeal:
        return None
    return data if data.pop("page", None) == request.path else None


def forget_shown(request: web.Request, response: web.StreamResponse) -> None:
    """Clear what :func:`show_once` carried to this page, if the browser sent anything."""
    if request.cookies.get(SHOWN_COOKIE):
        _secure_cookie(response, SHOWN_COOKIE, "", path=request.path, max_age=0)
