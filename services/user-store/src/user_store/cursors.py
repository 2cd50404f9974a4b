"""Cursors of cursor paging (RFC 9865): opaque to clients, authenticated, bound to one query.

A cursor carries the position after the last row of a page (its sort value and id) and an
HMAC-SHA256 over that position *and* the query it belongs to: the kind of resource, the tenant,
the sort order and the filter. A cursor that was altered, forged, or minted for another tenant
or another query fails the MAC and is refused as ``invalidCursor``, so what reaches the SQL is
only ever a position this service wrote itself.

The key comes from settings (``ROSTER_CURSOR_KEY``, else derived from the admin token, which
every user-store instance shares), so a cursor minted by one instance is good at every other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from roster_shared.filters import ListQuery

from user_store.errors import InvalidCursor

MAC_BYTES = 16
"""128 bits of HMAC-SHA256: forging stays out of reach, cursors stay short."""


def derive_key(secret: str) -> bytes:
    """A cursor key from another secret (the admin token), never equal to it."""
    return hmac.new(secret.encode(), b"roster user-store cursor key v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    # validate: the lenient decoder drops characters outside the alphabet instead of failing.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


@dataclass(frozen=True)
class Position:
    """Where the next page starts: after the row with this sort value and id."""

    value: str | bool | None
    id: str


class Cursors:
    """Mints and checks the cursors of one user-store installation."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the cursor key must be at least 16 bytes")
        self._key = key

    def _mac(
        self, kind: str, tenant_id: str, sort_key: str, query: ListQuery, body: bytes
    ) -> bytes:
        bound = json.dumps(
            [
                kind,
                tenant_id,
                sort_key,
                query.descending,
                query.filter.model_dump(mode="json") if query.filter is not None else None,
            ],
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        message = len(bound).to_bytes(4, "big") + bound + body
        return hmac.new(self._key, message, hashlib.sha256).digest()[:MAC_BYTES]

    def mint(
        self, kind: str, tenant_id: str, sort_key: str, query: ListQuery, position: Position
    ) -> str:
        """The cursor of the page after ``position`` for this query."""
        body = json.dumps(
            {"v": position.value, "id": position.id}, separators=(",", ":"), ensure_ascii=False
        ).encode()
        mac = self._mac(kind, tenant_id, sort_key, query, body)
        return f"{_b64(body)}.{_b64(mac)}"

    def read(self, kind: str, tenant_id: str, sort_key: str, query: ListQuery) -> Position:
        """The position in ``query.cursor``; :class:`InvalidCursor` unless this service minted
        it for this very query."""
        assert query.cursor is not None
        encoded, dot, mac_text = query.cursor.partition(".")
        try:
            if not dot:
                raise ValueError("no MAC")
            body, mac = _unb64(encoded), _unb64(mac_text)
        except (ValueError, binascii.Error):
            raise InvalidCursor("the cursor is malformed") from None
        if not dot or not hmac.compare_digest(
            mac, self._mac(kind, tenant_id, sort_key, query, body)
        ):
            raise InvalidCursor(
                "the cursor was not issued for this query (altered, or from another filter, "
                "sort order or tenant): start again without one"
            )
        data: Any = json.loads(body)
        value, last_id = data.get("v"), data.get("id")
        if not isinstance(value, str | bool | None) or not isinstance(last_id, str):
            raise InvalidCursor("the cursor is malformed")  # pragma: no cover - we minted it
        return Position(value, last_id)
