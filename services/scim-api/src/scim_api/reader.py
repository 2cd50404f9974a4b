"""The scim-api's hot reads straight from PostgreSQL, as a role that can only call
token-checked functions (``ROSTER_READER_DATABASE_URL``).

Without it, a GET by id and an IdP's ``userName eq`` lookup cost an HTTP request to the
user-store, and every write asks it ``tokens/verify`` before it publishes. With it, each is one
prepared ``SELECT * FROM roster_token_...($1, ...)`` on a small pool: the functions of migration
0009, ``SECURITY DEFINER``, check the presented token (its id and the SHA-256 of its secret,
what the user-store stores) against the tenant inside the database and only then return the
row the user-store's own hot read would (``roster_shared.hot_rows`` turns both into contract
form). The role is granted those functions and nothing else (``roster db reader-role``): it
cannot select from any table, so a leaked reader URL reads no more than a leaked SCIM token of
the same tenant could.

What stays true:

- A revoked token is refused on its very next request, on every instance: nothing is cached,
  every call's answer comes from a read of ``scim_tokens`` begun after the call (identical token
  checks in flight together are joined, :mod:`roster_shared.joined_reads`).
- Read-your-writes: the user-store replies after its commit, so a read of the primary right
  after the reply sees the change. The URL must name the primary, not a replica.
- A token of tenant A asking for tenant B, or a user of tenant B, gets what it gets today: no
  row, so 401 before anything about the user.

Everything else (other filters, paging, sorting, groups, a malformed id or tenant reference)
goes to the user-store over HTTP, as before (:class:`UserStoreClient`).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
from roster_shared.deadline import remaining
from roster_shared.filters import Compare, ListQuery, UserPage, is_user_name_lookup, name_key
from roster_shared.hot_rows import tenant_of_row, user_of_row
from roster_shared.ids import is_id, is_slug
from roster_shared.joined_reads import JoinedReads
from roster_shared.tenants import TenantInfo, presented_token
from roster_shared.token_reads import TokenUser, TokenUsers
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

log = logging.getLogger(__name__)

FRESH = 5.0
"""Seconds a read the reader database answered vouches for it to readiness."""
PROBE_TIMEOUT = 2.0
"""Seconds readiness waits for the reader database's ``SELECT 1``."""
_CONNECTION_BROKEN = (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError)
"""A connection lost or cut mid-statement: a backend terminated while a statement was being
prepared leaves asyncpg's protocol in a state it reports as InternalClientError, which is not
an InterfaceError — the same fault to the client (503), never a 500."""

_TENANT = "SELECT * FROM roster_token_tenant($1, $2, $3)"
_BY_ID = "SELECT * FROM roster_token_user($1, $2, $3, $4)"
_BY_USER_NAME = "SELECT * FROM roster_token_user_name($1, $2, $3, $4)"


def reader_dsn(url: str) -> str:
    """The URL as asyncpg takes it (``postgresql://``; SQLAlchemy's ``+asyncpg`` dropped)."""
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def _names_a_tenant(ref: str) -> bool:
    # Tenants are named by id or slug; anything else goes the HTTP way, which answers it as it
    # always has (and no odd text, a NUL say, reaches the database driver).
    return is_id(ref) or is_slug(ref)


class ReaderClient(UserStoreClient):
    """A :class:`UserStoreClient` whose token check, GET by id and ``userName eq`` lookup read
    the database through the reader functions; every other call is the HTTP one."""

    def __init__(
        self,
        base_url: str,
        *,
        reader_url: str,
        pool_size: int = 4,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout)
        self._dsn = reader_dsn(reader_url)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._answered_at = float("-inf")  # the last read the database answered (monotonic)
        self.token_reads: JoinedReads[Any] = JoinedReads()

    async def reachable(self) -> bool:
        """A readiness check: the reader database answers. A read answered in the last
        :data:`FRESH` seconds says so (a busy pool is not asked again: a probe that queued
        behind the load would time out and take a working instance out); else one ``SELECT 1``
        within :data:`PROBE_TIMEOUT`. A read that found the database unreachable makes the
        next check ask again at once."""
        if self._pool is None:
            return False
        if time.monotonic() - self._answered_at < FRESH:
            return True
        try:
            async with self._pool.acquire(timeout=PROBE_TIMEOUT) as connection:
                await connection.fetchval("SELECT 1", timeout=PROBE_TIMEOUT)
        except (asyncpg.PostgresError, *_CONNECTION_BROKEN, TimeoutError) as exc:
            log.warning("the reader database does not answer: %s: %s", type(exc).__name__, exc)
            return False
        self._answered_at = time.monotonic()
        return True

    async def start(self) -> None:
        """Open the HTTP pool and the reader's connections (a wrong URL or password fails here,
        at start, not on the first request)."""
        await super().start()
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._pool_size,
            timeout=self._timeout.total,
            reset=_session_unchanged,
        )

    async def close(self) -> None:
        """Close both pools."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await super().close()

    async def _row(self, statement: str, *args: str) -> Any:
        """The function's one row, or None (the token is not live for the tenant)."""
        if self._pool is None:
            raise RuntimeError("ReaderClient.start() was not called")
        budget = remaining(self._timeout.total)
        if budget <= 0:
            raise TimeoutError("the request's deadline passed before the database was asked")
        try:
            async with self._pool.acquire(timeout=budget) as connection:
                row = await connection.fetchrow(statement, *args, timeout=budget)
            self._answered_at = time.monotonic()
            return row
        except asyncpg.PostgresError as exc:
            self._answered_at = float("-inf")
            # A refusal of the role itself (grants missing after a migration, say) is ours to
            # fix, never the client's: logged, and answered 503 like an unreachable store.
            log.error(
                "the reader database refused a read",
                extra={"sqlstate": getattr(exc, "sqlstate", None), "error": str(exc)[:300]},
            )
            raise UserStoreClientError(503, "reader_failed", "the reader database failed") from exc
        except _CONNECTION_BROKEN as exc:
            self._answered_at = float("-inf")
            raise UserStoreClientError(503, "reader_unreachable", str(exc)[:200]) from exc

    async def verify_token(self, ref: str, token: str) -> TenantInfo | None:
        """The tenant when ``token`` is one of its live SCIM tokens, else None."""
        if not _names_a_tenant(ref):
            return await super().verify_token(ref, token)
        presented = presented_token(token)
        row = await self.token_reads.read(
            (ref, *presented), lambda: self._row(_TENANT, ref, *presented)
        )
        return tenant_of_row(row) if row is not None else None

    async def token_user(self, ref: str, token: str, user_id: str) -> TokenUser | None:
        """One user of the tenant, read as the holder of ``token``: None when the token is not
        live for the tenant, 404 (as the user-store answers) when it has no such live user."""
        if not (_names_a_tenant(ref) and is_id(user_id)):
            return await super().token_user(ref, token, user_id)
        row = await self._row(_BY_ID, ref, *presented_token(token), user_id)
        if row is None:
            return None
        user = user_of_row(row)
        if user is None:
            raise UserStoreClientError(404, "not_found", f"no user {user_id}")
        return TokenUser(tenant=tenant_of_row(row), user=user)

    async def token_users(self, ref: str, token: str, query: ListQuery) -> TokenUsers | None:
        """An IdP's ``userName eq`` lookup, read as the holder of ``token``; any other page
        is the user-store's (HTTP)."""
        if not (_names_a_tenant(ref) and is_user_name_lookup(query)):
            return await super().token_users(ref, token, query)
        assert isinstance(query.filter, Compare)
        key = name_key(str(query.filter.value))
        if not _encodable(key):
            return await super().token_users(ref, token, query)
        row = await self._row(_BY_USER_NAME, ref, *presented_token(token), key)
        if row is None:
            return None
        user = user_of_row(row)
        users = (user,) if user is not None else ()
        page = UserPage(total=len(users), start_index=1, items=users)
        return TokenUsers(tenant=tenant_of_row(row), page=page)


async def _session_unchanged(_connection: asyncpg.Connection) -> None:
    """The pool's reset of a connection given back: nothing to send. A read here is one
    ``SELECT`` of a function and changes no session state (no ``SET``, ``LISTEN``, advisory
    lock or cursor), and asyncpg still rolls back a transaction left open on its own. Its
    default reset (``RESET ALL``, ``UNLISTEN *``, ...) is a second round trip per read: 18 % of
    the scim-api's busy time under SCIM load at concurrency 64 (py-spy, issue 10)."""


def _encodable(text: str) -> bool:
    """Whether PostgreSQL can take ``text`` (a lone surrogate from a JSON escape cannot)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
