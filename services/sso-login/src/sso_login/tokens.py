"""Sealed, expiring, purpose-bound values for cookies (sessions and logins in progress).

A browser holds these, so they are encrypted, not only signed: a login in progress carries the
tenant id, the OIDC state, nonce and PKCE verifier, a session the person's user name, and none of
that may be readable by whoever gets hold of the cookie (docs/design.md, "Security model").

``v1.<purpose>.<base64url(nonce | ciphertext | tag)>``, sealed with AES-256-GCM (authenticated
encryption). Each purpose has its own key, derived from the deployment's session secret with
HKDF-SHA256 under a label of its own (``roster-sso-login/cookie/v1/<purpose>``), and the purpose
is also the associated data: a value sealed for one purpose (a SAML login in progress) never
opens as another (a session), and a value from one secret never opens under another. The
purpose label is in clear only so that a value presented for the wrong purpose is refused as
such; which of three kinds a cookie is, its name says anyway. The expiry is inside the sealed
part. A fresh random 96-bit nonce per value; keys are per purpose and per secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
LABEL = b"roster-sso-login/cookie/v1/"
"""HKDF ``info`` prefix; the purpose follows. A new format gets a new label, hence new keys."""

NONCE_BYTES = 12
MAX_VALUE = 8192
_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,31}")


class BadToken(Exception):
    """The value is missing, malformed, forged or tampered with, for another purpose, or expired.

    ``str(error)`` says which, for the log; the person only ever sees "start again".
    """


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    """Seals and opens cookie values with keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self._keys: dict[str, AESGCM] = {}

    def _aead(self, purpose: str) -> AESGCM:
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError(f"purpose {purpose!r}: use a short lower-case label")
        aead = self._keys.get(purpose)
        if aead is None:
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=LABEL + purpose.encode(),
            ).derive(self._secret)
            aead = self._keys[purpose] = AESGCM(key)
        return aead

    @staticmethod
    def _associated(purpose: str) -> bytes:
        return f"{VERSION}.{purpose}".encode()

    def dumps(self, purpose: str, data: dict[str, Any], *, max_age: float) -> str:
        """A sealed value carrying ``data`` that expires ``max_age`` seconds from now."""
        body = json.dumps({"d": data, "exp": int(time.time() + max_age)}, separators=(",", ":"))
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead(purpose).encrypt(nonce, body.encode(), self._associated(purpose))
        return f"{VERSION}.{purpose}.{_b64(nonce + sealed)}"

    def loads(self, purpose: str, value: str | None) -> dict[str, Any]:
        """The data of a value sealed for ``purpose``; :class:`BadToken` (with why) otherwise."""
        if not value:
            raise BadToken("missing")
        parts = value.split(".")
        if len(value) > MAX_VALUE or len(parts) != 3 or parts[0] != VERSION:
            raise BadToken("malformed")
        _, sealed_for, blob = parts
        if sealed_for != purpose:
            raise BadToken(f"sealed for another purpose ({sealed_for[:32]!r}, not {purpose!r})")
        try:
            raw = _unb64(blob)
        except (binascii.Error, ValueError) as exc:
            raise BadToken("malformed") from exc
        if len(raw) <= NONCE_BYTES:
            raise BadToken("malformed")
        try:
            plain = self._aead(purpose).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._associated(purpose)
            )
        except InvalidTag as exc:
            raise BadToken("forged, tampered with, or sealed under another secret") from exc
        try:
            body = json.loads(plain)
        except ValueError as exc:  # pragma: no cover - only we can seal, and we seal JSON
            raise BadToken("malformed payload") from exc
        if not isinstance(body, dict) or not isinstance(body.get("d"), dict):
            raise BadToken("malformed payload")  # pragma: no cover - as above
        if not isinstance(body.get("exp"), int) or body["exp"] <= time.time():
            raise BadToken("expired")
        data: dict[str, Any] = body["d"]
        return data
