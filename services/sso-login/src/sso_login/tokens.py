"""Signed, expiring, purpose-bound values for cookies (sessions and logins in progress).

``payload.mac`` where payload is base64url JSON and mac an HMAC-SHA256 over the purpose and the
payload: a value minted for one purpose (a SAML login in progress) never passes as another (a
session), and a value from one key never passes under another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class BadToken(Exception):
    """The value is malformed, forged, for another purpose, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Mints and checks signed values with one secret key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._key = hashlib.sha256(b"roster-sso-login\x00" + secret).digest()

    def _mac(self, purpose: str, payload: str) -> str:
        message = purpose.encode() + b"\x00" + payload.encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def dumps(self, purpose: str, data: dict[str, Any], *, max_age: float) -> str:
        """A signed value carrying ``data`` that expires ``max_age`` seconds from now."""
        body = {"d": data, "exp": int(time.time() + max_age)}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(purpose, payload)}"

    def loads(self, purpose: str, value: str | None) -> dict[str, Any]:
        """The data of a value minted for ``purpose``; :class:`BadToken` otherwise."""
        if not value or value.count(".") != 1 or len(value) > 8192:
            raise BadToken("missing or malformed")
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, payload)):
            raise BadToken("bad signature")
        try:
            body = json.loads(_unb64(payload))
        except ValueError as exc:
            raise BadToken("malformed payload") from exc
        if not isinstance(body, dict) or not isinstance(body.get("d"), dict):
            raise BadToken("malformed payload")
        if not isinstance(body.get("exp"), int) or body["exp"] <= time.time():
            raise BadToken("expired")
        data: dict[str, Any] = body["d"]
        return data
