"""The internal API's hottest reads as calls, for a caller in the same process (``roster dev``).

Over HTTP each of these reads is a thin handler around one function (``token_reads.verified``,
``user_of``, ``users_of``, ``login_reads.returning_of``); what the HTTP API adds around it is
the check of the path's tenant reference (:mod:`user_store.path_params`) and the error
middleware's rendering (``routes.errors_middleware``). :class:`InProcessReads` calls the same
functions with the same two wrappers and no request at all: no HTTP client, no server, no JSON
either way. Its answers are the very objects the HTTP handlers serialise, and every refusal is a
:class:`Refusal` carrying what the HTTP answer would carry (status, ``error``, ``detail``).

Nothing here is cached: every call reads the database as the HTTP handler does, so a revoked
token is refused on the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from roster_shared.login_reads import ReturningLogin, ReturningLoginRead
from roster_shared.observability import reference_id
from roster_shared.tenants import TenantInfo
from roster_shared.token_reads import TokenUser, TokenUserRead, TokenUsers, TokenUsersRead

from user_store import login_reads, token_reads
from user_store.errors import UserStoreError
from user_store.path_params import FORMS
from user_store.routes import (
    DATABASE_UNREACHABLE,
    UNREACHABLE_DETAIL,
    UNREACHABLE_ERROR,
    unreachable_reference,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class Refusal(Exception):
    """What the internal API would have answered with an error status."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


class InProcessReads:
    """The hot internal reads of the user-store application ``app``, called directly."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def verify_token(self, ref: str, token: str) -> TenantInfo:
        """``POST /internal/tenants/{ref}/tokens/verify``."""
        return await self._answer(
            ref, "tokens/verify", lambda: token_reads.verified(self._app, ref, token)
        )

    async def token_user(self, ref: str, message: TokenUserRead) -> TokenUser:
        """``POST /internal/tenants/{ref}/token-reads/user``."""
        return await self._answer(
            ref, "token-reads/user", lambda: token_reads.user_of(self._app, ref, message)
        )

    async def token_users(self, ref: str, message: TokenUsersRead) -> TokenUsers:
        """``POST /internal/tenants/{ref}/token-reads/users``."""
        return await self._answer(
            ref, "token-reads/users", lambda: token_reads.users_of(self._app, ref, message)
        )

    async def returning_login(self, ref: str, message: ReturningLoginRead) -> ReturningLogin:
        """``POST /internal/tenants/{ref}/logins/returning``."""
        return await self._answer(
            ref, "logins/returning", lambda: login_reads.returning_of(self._app, ref, message)
        )

    async def _answer(self, ref: str, what: str, read: Callable[[], Awaitable[T]]) -> T:
        """``read``'s answer, or the :class:`Refusal` the HTTP API would have answered."""
        path = f"/internal/tenants/{{ref}}/{what}"  # for the logs: never the caller's value
        try:
            valid, refuse = FORMS["ref"]
            if not valid(ref):
                raise refuse(ref)
            return await read()
        except UserStoreError as error:
            raise Refusal(error.status, error.error, error.detail) from error
        except DATABASE_UNREACHABLE as exc:
            unreachable_reference(path, exc)
            raise Refusal(503, UNREACHABLE_ERROR, UNREACHABLE_DETAIL) from exc
        except Exception as exc:
            reference = reference_id()
            log.exception("unhandled error", extra={"reference": reference, "path": path})
            raise Refusal(500, "internal", f"reference {reference}") from exc
