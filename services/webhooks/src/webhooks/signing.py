"""Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme").

Each message carries ``webhook-id`` (the event id: the same on every retry and replay, for the
receiver to de-duplicate), ``webhook-timestamp`` (seconds since the epoch, for the receiver's
replay window) and ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` of
``{id}.{timestamp}.{body}`` under each live secret. Secrets are ``whsec_`` + base64 of 32 random
bytes; during a rotation two are live, and a receiver holding either verifies. Receivers use the
``standardwebhooks`` package (or Svix's) — no code of ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,...`` signature."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers, signed under every live secret."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_),
    }
