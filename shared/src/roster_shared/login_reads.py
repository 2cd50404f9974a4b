"""A returning login answered from a read (docs/design.md, "Logins of returning users").

Most logins are of a person already linked to an active account whose attributes and groups
have not changed since the last one. sso-login first asks the user-store whether that is so for
this login; when it is, the login proceeds as the account the answer carries and only records
the last login (an ingestion event, not waited for). Any other answer (None) means the login
must go through the ingestion write path, where every identity rule is applied.
"""

from __future__ import annotations

from roster_shared.events.envelope import Frozen
from roster_shared.events.ingest import UserUpsertedData
from roster_shared.events.people import UserSnapshot


class ReturningLoginRead(Frozen):
    """The login, exactly as its ``UserUpserted`` event would carry it."""

    login: UserUpsertedData


class ReturningLogin(Frozen):
    """The account the login may proceed as without a write, or None: take the write path."""

    user: UserSnapshot | None = None
