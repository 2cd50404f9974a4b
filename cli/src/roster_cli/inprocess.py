"""The user-store client of services composed in one process with the user-store (``roster dev``).

Composed in one process, scim-api and sso-login used to read from the user-store over loopback
HTTP like separate services do: every SCIM read and returning login paid an HTTP client's
encoding, a server's parsing, and JSON both ways, about a third of ``roster dev``'s time under
GET load. :class:`InProcessUserStore` is a :class:`UserStoreClient` that answers the hot calls
(the token check, the token-checked reads of a user and of a page of users, a returning
login) by calling the user-store's own functions (:class:`user_store.in_process.InProcessReads`)
and everything else over HTTP, as its base class does.

The answers and errors are the HTTP path's: the base class's mapping of statuses (401 of a
token → None, 404 of a tenant in ``verify_token`` → None, anything else raised as
:class:`UserStoreClientError` with the user-store's status, code and detail) is applied to the
same refusals, unsafe path segments are refused before any read as the base class refuses them,
and a read waits at most what is left of the request's deadline (``roster_shared.deadline``).
Only the composer may build it: it holds the user-store's application, which no service may
import (``tests/cli/test_inprocess_client.py`` holds it to the HTTP client's answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from roster_shared.deadline import remaining
from roster_shared.events.ingest import UserUpsertedData
from roster_shared.events.people import UserSnapshot
from roster_shared.filters import ListQuery
from roster_shared.login_reads import ReturningLoginRead
from roster_shared.tenants import TenantInfo
from roster_shared.token_reads import TokenUser, TokenUserRead, TokenUsers, TokenUsersRead
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError
from user_store.in_process import InProcessReads, Refusal

T = TypeVar("T")


class InProcessUserStore(UserStoreClient):
    """A user-store client that calls the user-store application ``user_store`` directly for
    the hot reads, and ``base_url`` over HTTP for the rest."""

    def __init__(
        self,
        user_store: web.Application,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout)
        self._reads = InProcessReads(user_store)

    async def verify_token(self, ref: str, token: str) -> TenantInfo | None:
        try:
            return await self._direct(ref, lambda: self._reads.verify_token(ref, token))
        except UserStoreClientError as error:
            # As the base class: not a live token of the tenant, or no such tenant, are one
            # answer, so a client cannot probe which tenants exist.
            if error.status in (401, 404):
                return None
            raise

    async def token_user(self, ref: str, token: str, user_id: str) -> TokenUser | None:
        message = TokenUserRead(token=token, user_id=user_id)
        return await self._token_checked(ref, lambda: self._reads.token_user(ref, message))

    async def token_users(self, ref: str, token: str, query: ListQuery) -> TokenUsers | None:
        message = TokenUsersRead(token=token, query=query)
        return await self._token_checked(ref, lambda: self._reads.token_users(ref, message))

    async def returning_login(self, tenant_id: str, login: UserUpsertedData) -> UserSnapshot | None:
        message = ReturningLoginRead(login=login)
        answer = await self._direct(
            tenant_id, lambda: self._reads.returning_login(tenant_id, message)
        )
        return answer.user

    async def _token_checked(self, ref: str, read: Callable[[], Awaitable[T]]) -> T | None:
        try:
            return await self._direct(ref, read)
        except UserStoreClientError as error:
            # As the base class: the token is checked before anything is read, so a 401 is
            # the token's; a 404 after it is the user's.
            if error.status == 401:
                return None
            raise

    async def _direct(self, ref: str, read: Callable[[], Awaitable[T]]) -> T:
        self._path(ref)  # a value that cannot be a path segment: 404 before any read
        budget = remaining(self._timeout.total)
        if budget <= 0:
            raise TimeoutError("the request's deadline passed before the user-store was asked")
        try:
            async with asyncio.timeout(None if budget == float("inf") else budget):
                return await read()
        except Refusal as refusal:
            raise UserStoreClientError(refusal.status, refusal.error, refusal.detail) from refusal
