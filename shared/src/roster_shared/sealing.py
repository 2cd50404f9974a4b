"""Sealed, expiring, purpose-bound values for cookies: what a browser holds for a service
(sso-login's sessions and logins in progress, the console's session, form nonce and once-shown
secrets), encrypted, not only signed, so that none of it is readable by whoever gets hold of
the cookie (docs/design.md, "Security model").

``v1.<purpose>.<base64url(nonce | ciphertext | tag)>``, sealed with AES-256-GCM (authenticated
encryption). Each purpose has its own key, derived from the deployment's session secret with
HKDF-SHA256 under the service's label and the purpose (``<label><purpose>``, e.g.
``roster-sso-login/cookie/v1/session``), and the purpose is also the associated data: a value
sealed for one purpose (a SAML login in progress) never opens as another (a session), a value of
one service never opens in another, and a value from one secret never opens under another. The
purpose is in clear only so that a value presented for the wrong purpose is refused as such;
which kind a cookie is, its name says anyway. The expiry is inside the sealed part. A fresh
random 96-bit nonce per value; keys are per label, purpose and secret.
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

NONCE_BYTES = 12
MAX_VALUE = 8192
_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,31}")


class BadSeal(Exception):
    """The value is missing, malformed, forged or tampered with, for another purpose, or expired.

    ``str(error)`` says which, for the log; the person only ever sees "start again".
    """


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    """Seals and opens cookie values with keys derived from one secret, under one label."""

    def __init__(self, secret: bytes, *, label: bytes) -> None:
        """``label``: the HKDF ``info`` prefix, the purpose follows; one per service, and a new
        format gets a new label, hence new keys."""
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self._label = label
        self._keys: dict[str, AESGCM] = {}

    def key(self, purpose: str) -> bytes:
        """A 32-byte key of its own for ``purpose`` (also for HMACs, e.g. CSRF tokens)."""
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError(f"purpose {purpose!r}: use a short lower-case label")
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=self._label + purpose.encode()
        ).derive(self._secret)

    def _aead(self, purpose: str) -> AESGCM:
        aead = self._keys.get(purpose)
        if aead is None:
            aead = self._keys[purpose] = AESGCM(self.key(purpose))
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
        """The data of a value sealed for ``purpose``; :class:`BadSeal` (with why) otherwise."""
        if not value:
            raise BadSeal("missing")
        parts = value.split(".")
        if len(value) > MAX_VALUE or len(parts) != 3 or parts[0] != VERSION:
            raise BadSeal("malformed")
        _, sealed_for, blob = parts
        if sealed_for != purpose:
            raise BadSeal(f"sealed for another purpose ({sealed_for[:32]!r}, not {purpose!r})")
        try:
            raw = _unb64(blob)
        except (binascii.Error, ValueError) as exc:
            raise BadSeal("malformed") from exc
        if len(raw) <= NONCE_BYTES:
            raise BadSeal("malformed")
        try:
            plain = self._aead(purpose).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._associated(purpose)
            )
        except InvalidTag as exc:
            raise BadSeal("forged, tampered with, or sealed under another secret") from exc
        try:
            body = json.loads(plain)
        except ValueError as exc:  # pragma: no cover - only we can seal, and we seal JSON
            raise BadSeal("malformed payload") from exc
        if not isinstance(body, dict) or not isinstance(body.get("d"), dict):
            raise BadSeal("malformed payload")  # pragma: no cover - as above
        if not isinstance(body.get("exp"), int) or body["exp"] <= time.time():
            raise BadSeal("expired")
        data: dict[str, Any] = body["d"]
        return data
