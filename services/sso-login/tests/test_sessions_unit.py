"""Session revocation without I/O: lifecycle events, and sessions issued before an instance
started listening (checked once with the user-store)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from roster_shared.bus.base import Message
from roster_shared.events.envelope import Source
from roster_shared.events.lifecycle import UserChange, UserDeactivated, UserUpdated
from roster_shared.events.people import UserSnapshot
from roster_shared.userstore_client import UserStoreClient
from sso_login.sessions import Sessions
from sso_login.tokens import Sealer


def _user(active: bool) -> UserSnapshot:
    now = datetime.now(UTC)
    return UserSnapshot(
        id="u-1",
        tenant_id="t-1",
        user_name="ada",
        external_id=None,
        active=active,
        origin="jit",
        scim_managed=False,
        version=1,
        created_at=now,
        updated_at=now,
    )


class Store(UserStoreClient):
    def __init__(self, active: bool) -> None:
        super().__init__("http://user-store.invalid")
        self.active = active
        self.calls = 0

    async def user(self, tenant_id: str, user_id: str) -> UserSnapshot:
        self.calls += 1
        return _user(self.active)


def _issue(sessions: Sessions) -> str:
    value, _ = sessions.issue(
        tenant_id="t-1",
        tenant="acme",
        user_id="u-1",
        user_name="ada",
        max_age=60,
        protocol="saml",
    )
    return value


def _message(event: UserDeactivated | UserUpdated) -> Message:
    return Message(
        topic="roster.lifecycle",
        partition=0,
        offset=0,
        key="t-1",
        value=event.model_dump_json().encode(),
        headers=(("event-type", event.type.encode()),),
    )


async def test_deactivation_event_revokes_earlier_sessions_only() -> None:
    sessions = Sessions(Sealer(b"k" * 32), Store(active=True))
    sessions.listening_since = 0
    before = _issue(sessions)
    assert await sessions.check(before) is not None
    updated = UserUpdated(tenant_id="t-1", source=Source.SCIM, data=UserChange(user=_user(True)))
    await sessions.on_lifecycle([_message(updated)])
    assert await sessions.check(before) is not None
    gone = UserDeactivated(tenant_id="t-1", source=Source.SCIM, data=UserChange(user=_user(False)))
    await sessions.on_lifecycle([_message(gone)])
    assert await sessions.check(before) is None
    time.sleep(0.01)
    assert await sessions.check(_issue(sessions)) is not None  # a later login is not revoked


async def test_sessions_from_before_listening_are_checked_once() -> None:
    store = Store(active=True)
    sessions = Sessions(Sealer(b"k" * 32), store)
    value = _issue(sessions)
    sessions.listening_since = time.time() + 1
    assert await sessions.check(value) is not None
    assert await sessions.check(value) is not None
    assert store.calls == 1
    store.active = False
    other = Sessions(Sealer(b"k" * 32), store)
    other.listening_since = time.time() + 1
    assert await other.check(value) is None
