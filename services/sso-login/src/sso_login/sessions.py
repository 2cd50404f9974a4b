"""Login sessions: a sealed cookie, revoked when the user-store says the person lost access.

The cookie is HttpOnly, Secure and SameSite=Lax, encrypted and authenticated with a key derived
from the deployment's session secret (:mod:`sso_login.tokens`: it carries the user name, which a
browser's cookie store must not show in clear), and expires after the tenant's maximum age.
sso-login follows ``roster.lifecycle``: a ``user.deactivated`` or ``user.deleted`` event revokes
every session of that user issued before it. Sessions issued before this instance started
listening are checked once against the user-store, so a restart does not forget a revocation.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import ValidationError
from roster_shared.bus.base import Message
from roster_shared.events.lifecycle import LIFECYCLE_ADAPTER, UserDeactivated, UserDeleted
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

from sso_login.tokens import BadToken, Sealer

log = logging.getLogger(__name__)

COOKIE = "roster_session"
PURPOSE = "session"
LONGEST_SESSION = 30 * 86400.0
"""No session outlives this (the largest tenant maximum age), so older records can go."""


@dataclass(frozen=True)
class Session:
    """A signed-in person."""

    id: str
    tenant_id: str
    tenant: str
    user_id: str
    user_name: str
    issued_at: float
    expires_at: float
    protocol: str

    def as_json(self) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "tenant_id": self.tenant_id,
            "tenant": self.tenant,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "issued_at": int(self.issued_at),
            "expires_at": int(self.expires_at),
            "protocol": self.protocol,
        }


class Sessions:
    """Issues and checks sessions; keeps the revocations seen on ``roster.lifecycle``."""

    def __init__(self, sealer: Sealer, user_store: UserStoreClient) -> None:
        self._sealer = sealer
        self._user_store = user_store
        self._revoked_users: dict[tuple[str, str], float] = {}
        self._ended: dict[str, float] = {}
        self._verified: dict[str, float] = {}
        self.listening_since = time.time()

    def issue(
        self,
        *,
        tenant_id: str,
        tenant: str,
        user_id: str,
        user_name: str,
        max_age: int,
        protocol: str,
    ) -> tuple[str, Session]:
        """A new session and its cookie value."""
        now = time.time()
        session = Session(
            id=secrets.token_urlsafe(16),
            tenant_id=tenant_id,
            tenant=tenant,
            user_id=user_id,
            user_name=user_name,
            issued_at=now,
            expires_at=now + max_age,
            protocol=protocol,
        )
        data = {
            "sid": session.id,
            "tid": tenant_id,
            "t": tenant,
            "uid": user_id,
            "un": user_name,
            "iat": now,
            "p": protocol,
        }
        return self._sealer.dumps(PURPOSE, data, max_age=max_age), session

    async def check(self, value: str | None) -> Session | None:
        """The session a cookie carries, if it is genuine, unexpired and not revoked."""
        try:
            data = self._sealer.loads(PURPOSE, value)
            session = Session(
                id=str(data["sid"]),
                tenant_id=str(data["tid"]),
                tenant=str(data["t"]),
                user_id=str(data["uid"]),
                user_name=str(data["un"]),
                issued_at=float(data["iat"]),
                expires_at=0.0,
                protocol=str(data["p"]),
            )
        except (BadToken, KeyError, TypeError, ValueError):
            return None
        if session.id in self._ended:
            return None
        revoked = self._revoked_users.get((session.tenant_id, session.user_id))
        if revoked is not None and session.issued_at <= revoked:
            return None
        if session.issued_at < self.listening_since and session.id not in self._verified:
            # Issued before we listened: a revocation may have passed us by. Ask once.
            try:
                user = await self._user_store.user(session.tenant_id, session.user_id)
            except (UserStoreClientError, aiohttp.ClientError, TimeoutError):
                return None  # fail closed: sign in again
            if not user.active:
                return None
            self._verified[session.id] = time.time()
            self._prune()
        return session

    def end(self, session: Session) -> None:
        """Logout: this session is over (on this instance; the cookie is cleared too)."""
        self._ended[session.id] = time.time()
        self._prune()

    def revoke_user(self, tenant_id: str, user_id: str, at: float | None = None) -> None:
        """Every session of the user issued until ``at`` (now) is over."""
        self._revoked_users[(tenant_id, user_id)] = at if at is not None else time.time()
        self._prune()

    def _prune(self) -> None:
        """Forget records no live session can match any more (bounded memory)."""
        records = len(self._ended) + len(self._revoked_users) + len(self._verified)
        if records < 10_000:
            return
        horizon = time.time() - LONGEST_SESSION
        for table in (self._ended, self._verified):
            for key in [k for k, at in table.items() if at < horizon]:
                del table[key]
        for user in [k for k, at in self._revoked_users.items() if at < horizon]:
            del self._revoked_users[user]

    async def on_lifecycle(self, messages: Sequence[Message]) -> None:
        """``roster.lifecycle`` handler: revoke on ``user.deactivated`` and ``user.deleted``."""
        for message in messages:
            if message.value is None:
                continue
            kind = message.header("event-type")
            if kind is not None and kind not in (b"user.deactivated", b"user.deleted"):
                continue
            try:
                event = LIFECYCLE_ADAPTER.validate_json(message.value)
            except ValidationError:
                continue
            if isinstance(event, UserDeactivated | UserDeleted):
                self.revoke_user(event.tenant_id, event.data.user.id)
                log.info(
                    "sessions revoked",
                    extra={"tenant_id": event.tenant_id, "user_id": event.data.user.id},
                )
