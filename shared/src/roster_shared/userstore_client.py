"""A client for the user-store's internal API, for scim-api, sso-login and the reconciler.

The user-store is the only writer of the database. Its internal API serves reads (tenants,
tokens, users, groups) and takes the few writes that are not ingestion events: single-use replay
claims and the tenant's ``sso`` settings section through this client; the reconciler's lease,
runs, state and settings through its own (``reconciler.store``). Users and groups change only by
ingestion events (``roster_shared.bus.requests.Requester``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel

from roster_shared.deadline import remaining
from roster_shared.events import ingest
from roster_shared.events.envelope import Frozen
from roster_shared.events.ingest import UserUpsertedData
from roster_shared.events.people import GroupSnapshot, UserSnapshot
from roster_shared.events.replies import Reply
from roster_shared.filters import GroupPage, ListQuery, UserPage
from roster_shared.ids import UnsafeSegment, internal_path, internal_url
from roster_shared.internal_http import InternalHttpClient
from roster_shared.joined_reads import JoinedReads
from roster_shared.login_reads import ReturningLogin, ReturningLoginRead
from roster_shared.tenants import TenantInfo
from roster_shared.token_reads import TokenUser, TokenUserRead, TokenUsers, TokenUsersRead

M = TypeVar("M", bound=BaseModel)


class LoginVerdict(Frozen):
    """A login's dry run at the user-store: the reply it would get, and what it would change."""

    reply: Reply
    changed: tuple[str, ...] = ()


INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
"""The user-store's error code for a SCIM token it does not know (``tokens/verify``); any other
401 is a refusal of our internal credential."""


log = logging.getLogger(__name__)


class UserStoreClientError(Exception):
    """The user-store answered with an error; ``code`` is its typed error code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class InternalCredentialRefused(UserStoreClientError):
    """The user-store refused this service's internal credential (``ROSTER_INTERNAL_TOKEN``
    differs between them): a misconfiguration of ours, never the client's fault. Its status is
    503, so every caller that maps user-store failures answers "unavailable, retry later"."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, "internal_credential_refused", detail)


class UserStoreClient(InternalHttpClient):
    """Reads tenants, users and groups from the user-store over HTTP."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        super().__init__(base_url, token=token, timeout=timeout)
        self.tenant_reads: JoinedReads[TenantInfo] = JoinedReads()

    @staticmethod
    def _path(*segments: str) -> str:
        """The internal path of these segments, each quoted whole (``roster_shared.ids``).

        A value that cannot be a segment (empty, ``.``, ``..``) names no tenant, user or group:
        it is answered as the user-store answers an unknown one (404), without a request.
        """
        try:
            return internal_path("internal", "tenants", *segments)
        except UnsafeSegment as exc:
            raise UserStoreClientError(404, "not_found", str(exc)) from exc

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> M:
        session = self.session()
        url = internal_url(self._base, path)
        # Within what is left of the request's deadline (roster_shared.deadline), if any.
        budget = remaining(self._timeout.total)
        if budget <= 0:
            raise TimeoutError("the request's deadline passed before the user-store was asked")
        async with session.request(
            method, url, json=json, params=params, timeout=aiohttp.ClientTimeout(total=budget)
        ) as response:
            body = await response.read()
            if response.status >= 400:
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = {}
                code = str(data.get("error", "error")) if isinstance(data, dict) else "error"
                detail = str(data.get("detail", body[:200])) if isinstance(data, dict) else ""
                if response.status == 401 and code != INVALID_TOKEN:
                    log.critical(
                        "the user-store refused our internal credential: ROSTER_INTERNAL_TOKEN "
                        "must be the same on every service",
                        extra={"path": path, "status": response.status, "code": code},
                    )
                    raise InternalCredentialRefused(detail)
                raise UserStoreClientError(response.status, code, detail)
            return model.model_validate_json(body)

    async def tenant(self, ref: str) -> TenantInfo:
        """A tenant by id or slug; identical requests in flight together are joined
        (:mod:`roster_shared.joined_reads`: each answer read after its caller came)."""
        path = self._path(ref)
        return await self.tenant_reads.read(path, lambda: self._call("GET", path, TenantInfo))

    async def verify_token(self, ref: str, token: str) -> TenantInfo | None:
        """The tenant when ``token`` is one of its live SCIM tokens, else None."""
        try:
            return await self._call(
                "POST", self._path(ref, "tokens", "verify"), TenantInfo, json={"token": token}
            )
        except InternalCredentialRefused:
            raise
        except UserStoreClientError as error:
            # 401 invalid_token: not a live token of the tenant; 404: no such tenant. Either
            # way the same answer, so a client cannot probe which tenants exist.
            if error.status in (401, 404):
                return None
            raise

    async def token_user(self, ref: str, token: str, user_id: str) -> TokenUser | None:
        """One user of the tenant, read as the holder of ``token`` in one request; None when
        the token is not live for the tenant (``roster_shared.token_reads``)."""
        return await self._token_read(
            "user", TokenUser, TokenUserRead(token=token, user_id=user_id), ref
        )

    async def token_users(self, ref: str, token: str, query: ListQuery) -> TokenUsers | None:
        """A page of the tenant's users, read as the holder of ``token`` in one request; None
        when the token is not live for the tenant."""
        return await self._token_read(
            "users", TokenUsers, TokenUsersRead(token=token, query=query), ref
        )

    async def _token_read(
        self, what: str, model: type[M], message: BaseModel, ref: str
    ) -> M | None:
        try:
            return await self._call(
                "POST",
                self._path(ref, "token-reads", what),
                model,
                json=message.model_dump(mode="json"),
            )
        except InternalCredentialRefused:
            raise
        except UserStoreClientError as error:
            # The token is checked before anything is read: a 401 is the token's (as in
            # verify_token); a 404 after it is the user's.
            if error.status == 401:
                return None
            raise

    async def returning_login(self, tenant_id: str, login: UserUpsertedData) -> UserSnapshot | None:
        """The account a login may proceed as without a write (``roster_shared.login_reads``),
        or None: the login must take the ingestion write path."""
        answer = await self._call(
            "POST",
            self._path(tenant_id, "logins", "returning"),
            ReturningLogin,
            json=ReturningLoginRead(login=login).model_dump(mode="json"),
        )
        return answer.user

    async def user(self, tenant_id: str, user_id: str) -> UserSnapshot:
        """One user of the tenant."""
        return await self._call("GET", self._path(tenant_id, "users", user_id), UserSnapshot)

    async def dry_run_login(self, event: ingest.UserUpserted) -> LoginVerdict:
        """What the user-store's rules would make of this login, nothing kept (Test sign-in)."""
        return await self._call(
            "POST",
            self._path(event.tenant_id, "logins", "dry-run"),
            LoginVerdict,
            json=event.model_dump(mode="json"),
        )

    async def users(self, tenant_id: str, query: ListQuery) -> UserPage:
        """A page of the tenant's users."""
        return await self._call(
            "POST",
            self._path(tenant_id, "users", "query"),
            UserPage,
            json=query.model_dump(mode="json"),
        )

    async def group(self, tenant_id: str, group_id: str, *, members: bool = True) -> GroupSnapshot:
        """One group of the tenant."""
        return await self._call(
            "GET",
            self._path(tenant_id, "groups", group_id),
            GroupSnapshot,
            params={"members": str(members).lower()},
        )

    async def groups(self, tenant_id: str, query: ListQuery, *, members: bool = True) -> GroupPage:
        """A page of the tenant's groups."""
        return await self._call(
            "POST",
            self._path(tenant_id, "groups", "query"),
            GroupPage,
            json=query.model_dump(mode="json"),
            params={"members": str(members).lower()},
        )

    async def claim_once(self, tenant_id: str, claim: str, expires_at: datetime) -> bool:
        """Claim a single-use value (a SAML assertion id, an OIDC state) for the tenant.

        True for the first claim of that value, False for every later one until ``expires_at``
        (the user-store keeps one row per tenant and value, so concurrent claims have one winner).
        """
        try:
            await self._call(
                "POST",
                self._path(tenant_id, "replay-claims"),
                _Claimed,
                json={"claim": claim, "expires_at": expires_at.isoformat()},
            )
        except UserStoreClientError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def set_sso_settings(self, tenant: str, section: dict[str, Any]) -> TenantInfo:
        """Replace the tenant's ``sso`` settings section (sso-login's admin API)."""
        return await self._call(
            "PUT", self._path(tenant, "settings", "sso"), TenantInfo, json=section
        )


class _Claimed(BaseModel):
    claimed: bool
