"""Bearer-token authentication of SCIM clients (RFC 7644 §2): a token reaches only its tenant.

Tokens are checked by the user-store, which keeps only their hashes. An unknown tenant and a
wrong token get the same answer, so a client cannot probe which tenants exist.

A token the user-store accepted is remembered for a few seconds (by its SHA-256, never in
clear), which saves a round trip per request while an IdP provisions at full speed; a revoked
token therefore stops working within :data:`TOKEN_CACHE_SECONDS`. Refusals are never cached.
"""

from __future__ import annotations

import hashlib
import time

import aiohttp
from roster_shared.tenants import TenantInfo
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

from scim_api.errors import Unauthorized, Unavailable


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    return token


TOKEN_CACHE_SECONDS = 10.0
"""How long an accepted token is trusted without asking the user-store again."""


class TokenCache:
    """Accepted ``(tenant, token)`` pairs by the token's SHA-256, each for a few seconds."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[tuple[str, bytes], tuple[float, TenantInfo]] = {}

    def get(self, tenant: str, digest: bytes) -> TenantInfo | None:
        entry = self._entries.get((tenant, digest))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, tenant: str, digest: bytes, info: TenantInfo) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[(tenant, digest)] = (time.monotonic() + self.ttl, info)


async def authenticate(
    user_store: UserStoreClient,
    tenant: str,
    authorization: str | None,
    cache: TokenCache | None = None,
) -> TenantInfo:
    """The tenant whose live SCIM token the request carries, else :class:`Unauthorized`."""
    token = bearer_token(authorization)
    digest = hashlib.sha256(token.encode()).digest()
    if cache is not None and (known := cache.get(tenant, digest)) is not None:
        return known
    try:
        info = await user_store.verify_token(tenant, token)
    except (UserStoreClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable("the user store is not answering; retry later") from exc
    if info is None:
        raise Unauthorized("the bearer token is not valid for this tenant")
    if cache is not None:
        cache.put(tenant, digest, info)
    return info
