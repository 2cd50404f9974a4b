"""The form of every parameter the user-store takes from a URL path, checked before any handler.

Callers build internal URLs from quoted segments (``roster_shared.ids.internal_path``), but the
user-store does not rely on that: a value of the wrong form names nothing here, so it is answered
as an unknown one (404) or a malformed request (400) in the usual JSON error, before it reaches a
query. (Without this, a NUL byte in an id was a PostgreSQL encoding error: a 500.)

Every path parameter of every route must be listed in :data:`FORMS`; a route whose parameter is
not is refused (and a test walks the router so that cannot ship).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web
from roster_shared.ids import is_id, is_tenant_ref

from user_store.errors import Invalid, NotFound, UnknownTenant, UserStoreError

_TOKEN_ID = re.compile(r"[A-Za-z0-9]{16}")  # the id part of tenants.TOKEN
_HOLDER = re.compile(r"[A-Za-z0-9._:@-]{1,128}")  # a reconciler instance name
_SECTION = re.compile(r"[a-z_]{1,32}")  # the handler checks which sections exist
_LETTER = re.compile(r"\d{1,9}:\d{1,19}")  # a dead letter: <partition>:<offset>


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


FORMS: dict[str, tuple[Callable[[str], bool], Callable[[str], UserStoreError]]] = {
    "ref": (is_tenant_ref, lambda _: UnknownTenant("no tenant of that name or id")),
    "tenant_id": (is_id, lambda _: NotFound("no tenant with that id: it is not an id")),
    "user_id": (is_id, lambda _: NotFound("no user with that id: it is not an id")),
    "group_id": (is_id, lambda _: NotFound("no group with that id: it is not an id")),
    "run_id": (is_id, lambda _: NotFound("no run with that id: it is not an id")),
    "token_id": (_matches(_TOKEN_ID), lambda _: NotFound("no token with that id")),
    "link_id": (_matches(_TOKEN_ID), lambda _: NotFound("no setup link with that id")),
    "holder": (_matches(_HOLDER), lambda _: Invalid("a lease holder is 1-128 letters or digits")),
    "section": (_matches(_SECTION), lambda _: Invalid("no settings section of that name")),
    # The webhooks service's storage (user_store.webhooks).
    "endpoint": (is_id, lambda _: NotFound("no webhook endpoint with that id: it is not an id")),
    "letter": (_matches(_LETTER), lambda _: NotFound("a dead letter id is <partition>:<offset>")),
}


def check(request: web.Request) -> None:
    """Raise the typed error of the first path parameter that is not of its form.

    The error never echoes the value: it came from the caller, and may be anything.
    """
    for name, value in request.match_info.items():
        form = FORMS.get(name)
        if form is None:
            raise Invalid(f"path parameter {name!r} has no declared form")
        valid, error = form
        if not valid(value):
            raise error(value)
