"""What a text value in a contract may hold: one set of rules for every edge.

An ingestion event that decodes must be one the user-store can store. PostgreSQL ``text`` and
``varchar`` refuse U+0000, a str holding a lone surrogate (U+D800-U+DFFF, which a JSON ``\\ud800``
escape gives Python's json module) cannot even be encoded as UTF-8, and the user-store's columns
have lengths (``user_store/tables.py``): an event that breaks any of these would fail in the
database, not at the edge. So the contracts carry the rules, and every producer (scim-api,
sso-login, the reconciler) and the consumer apply the same ones:

* :data:`Text` — free text (a reason, a value inside ``extra``): no U+0000, no lone surrogate.
* :data:`Line` — a name or address (``userName``, ``externalId``, e-mails, display names, IdP
  issuer and subject): :data:`Text` and no control character at all (C0, DEL, C1), which no
  identity attribute needs and which would let a value forge lines in logs.
* :data:`Token` — an id (event, tenant, user, group, correlation): 1-64 characters of
  ``A-Z a-z 0-9 . _ : @ -``, not starting with ``.``, ``:``, ``@`` or ``-``. Roster mints
  UUID4s; the form also takes other producers' opaque ids, and whatever it takes fits the
  64-character id columns (``processed_events.event_id``) and a Kafka key, and is safe to log.
* :data:`JsonObject` — the free JSON of a resource (``extra``): every key and string value
  :data:`Text`, nested at most 16 deep.

Each check raises ``ValueError`` naming what is wrong, so pydantic's error (and the SCIM 400 or
dead-letter reason made from it) says which attribute and why.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

TOKEN_MAX = 64
"""Longest id: the id columns of the user-store are ``varchar(64)``."""
JSON_MAX_DEPTH = 16

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TOKEN = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9._:@-]{{0,{TOKEN_MAX - 1}}}")


def _describe(char: str) -> str:
    if char == "\x00":
        return "U+0000 (NUL), which cannot be stored"
    if "\ud800" <= char <= "\udfff":
        return f"U+{ord(char):04X}, a lone surrogate, which is not valid Unicode text"
    return f"the control character U+{ord(char):04X}"


def check_text(value: str) -> str:
    """``value`` unless it holds U+0000 or a lone surrogate."""
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise ValueError(f"contains {_describe(found.group())} (at {found.start()})")
    return value


def check_line(value: str) -> str:
    """``value`` unless it holds any control character (or what :func:`check_text` refuses)."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(f"contains {_describe(found.group())} (at {found.start()})")
    return value


def is_token(value: object) -> bool:
    """True for an id of :data:`Token` form."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def check_token(value: str) -> str:
    """``value`` if it has the id form, else a ``ValueError`` saying what the form is."""
    if not is_token(value):
        raise ValueError(
            f"must be 1-{TOKEN_MAX} characters of letters, digits and . _ : @ - "
            f"(got {len(value)} characters)"
        )
    return value


def check_json(value: Any, *, _depth: int = 0, _where: str = "") -> Any:
    """``value`` unless a key or string in it breaks :func:`check_text` or it nests too deep."""
    if _depth > JSON_MAX_DEPTH:
        raise ValueError(f"nests deeper than {JSON_MAX_DEPTH} levels at {_where or 'the top'}")
    if isinstance(value, str):
        try:
            check_text(value)
        except ValueError as exc:
            raise ValueError(f"{_where or 'value'} {exc}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{_where}.{key}" if _where else str(key)
            if isinstance(key, str):
                try:
                    check_text(key)
                except ValueError as exc:
                    raise ValueError(f"a key {exc}") from None
            check_json(item, _depth=_depth + 1, _where=where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json(item, _depth=_depth + 1, _where=f"{_where}[{index}]")
    return value


Text = Annotated[str, AfterValidator(check_text)]
"""Free text: no U+0000, no lone surrogate."""

Line = Annotated[str, AfterValidator(check_line)]
"""A name or address: no control character."""

Token = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TOKEN_MAX,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._:@-]*$",
        description="An id: 1-64 characters of A-Z a-z 0-9 . _ : @ -.",
    ),
]
"""An id of the form every id column and Kafka key can hold."""

JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
"""Free JSON: every key and string :data:`Text`, at most 16 levels deep."""


def correlation(value: str | None) -> str | None:
    """``value`` if it can be a correlation id (:data:`Token`), else None: for ids taken from
    outside (an ``X-Request-Id`` header, a SAML assertion id), which must never make an event
    invalid."""
    return value if is_token(value) else None
