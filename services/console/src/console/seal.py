"""Sealed cookie values: the operator's session and the form nonce.

The same construction as sso-login's cookies (``sso_login.tokens``; services import no other
service, so it is repeated here): AES-256-GCM with a key per purpose derived from the console's
session secret by HKDF-SHA256 under ``roster-console/cookie/v1/<purpose>``, the purpose bound as
associated data, the expiry inside the sealed part. A value sealed for one purpose never opens as
another, and nothing in a cookie is readable or forgeable without the secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL = b"roster-console/cookie/v1/"
NONCE = 12
MAX_VALUE = 4096


class BadSeal(Exception):
    """Missing, malformed, forged, for another purpose, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Sealer:
    """Seals and opens values with keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self._keys: dict[str, AESGCM] = {}

    def key(self, purpose: str) -> bytes:
        """A 32-byte key of its own for ``purpose`` (also used for HMACs, e.g. CSRF tokens)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL + purpose.encode()
        ).derive(self._secret)

    def _aead(self, purpose: str) -> AESGCM:
        if purpose not in self._keys:
            self._keys[purpose] = AESGCM(self.key(purpose))
        return self._keys[purpose]

    def dumps(self, purpose: str, data: dict[str, Any], *, max_age: float) -> str:
        """A sealed value carrying ``data`` for ``max_age`` seconds."""
        body = json.dumps({"d": data, "exp": int(time.time() + max_age)}).encode()
        nonce = os.urandom(NONCE)
        sealed = self._aead(purpose).encrypt(nonce, body, purpose.encode())
        return f"v1.{_b64(nonce + sealed)}"

    def loads(self, purpose: str, value: str | None) -> dict[str, Any]:
        """The data of a live value sealed for ``purpose``; :class:`BadSeal` otherwise."""
        if not value or len(value) > MAX_VALUE or not value.startswith("v1."):
            raise BadSeal("missing or malformed")
        try:
            raw = base64.urlsafe_b64decode(value[3:] + "=" * (-len(value[3:]) % 4))
            plain = self._aead(purpose).decrypt(raw[:NONCE], raw[NONCE:], purpose.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise BadSeal("forged, tampered with, or for another purpose") from exc
        body = json.loads(plain)
        if body["exp"] <= time.time():
            raise BadSeal("expired")
        data: dict[str, Any] = body["d"]
        return data
