"""Bearer-token authentication of SCIM clients (RFC 7644 §2): a token reaches only its tenant.

Tokens are checked by the user-store, which keeps only their hashes. An unknown tenant and a
wrong token get the same answer, so a client cannot probe which tenants exist.

Every request asks the user-store; nothing is cached here. A token is revoked by the admin API
or by ``roster tenant token revoke``, which writes the database directly, so no instance of the
scim-api could learn of it except by asking: without a cache a revoked token is refused on its
very next request, on every instance, as the README promises. The hot reads (a user by id, a
page of ``/Users``) ask in the same internal request as their read
(``roster_shared.token_reads``): the user-store checks the token before it reads, so they cost
one internal hop instead of two and still check the token on every request.
"""

from __future__ import annotations

import aiohttp
from roster_shared.tenants import TenantInfo
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

from scim_api.errors import Unauthorized, from_user_store


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    return token


async def authenticate(
    user_store: UserStoreClient, tenant: str, authorization: str | None
) -> TenantInfo:
    """The tenant whose live SCIM token the request carries, else :class:`Unauthorized`."""
    token = bearer_token(authorization)
    try:
        info = await user_store.verify_token(tenant, token)
    except (UserStoreClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise from_user_store(exc) from exc
    if info is None:
        raise refused()
    return info


def refused() -> Unauthorized:
    """The one answer to a token that is not live for the tenant (or to no such tenant)."""
    return Unauthorized("the bearer token is not valid for this tenant")
