"""The state one applier works in: one open session, one tenant, one moment, the batch's view of
its accounts, and whether the batch runs on the fast path.

Everything in :mod:`user_store.apply` runs inside the caller's transaction and returns what to
publish; it never commits and never talks to the bus. A refused event raises a
:class:`~user_store.errors.UserStoreError` and the caller rolls its savepoint back, so nothing is
half-written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from roster_shared.events.people import IdentityLink, MemberRef
from roster_shared.tenants import TenantInfo
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.ingest_batch import DeferredLinkCheck
from user_store.lookups import UserLookups
from user_store.tables import UserRow


class ApplyContext:
    """What an applier works with; every part of :class:`~user_store.apply.Applier` shares it."""

    def __init__(
        self,
        session: AsyncSession,
        tenant: TenantInfo,
        now: datetime,
        *,
        lookups: UserLookups | None = None,
        fast: bool = False,
        email_sink: dict[str, list[dict[str, Any]]] | None = None,
        emails_replaced: set[str] | None = None,
        known_parts: dict[str, tuple[list[IdentityLink], list[MemberRef]]] | None = None,
        new_users: list[UserRow] | None = None,
        link_check: DeferredLinkCheck | None = None,
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.now = now
        self.lookups = lookups or UserLookups()
        # Fast: the caller runs without savepoints and redoes the whole batch safely if
        # anything raises, so writes need not be flushed early to surface constraint errors.
        self.fast = fast
        # Fast mode: e-mail rows of new and changed accounts, inserted in bulk after the
        # accounts; the users whose stored e-mail rows go first (their e-mails were replaced).
        self.email_sink = email_sink  # user id -> its e-mail rows
        self.emails_replaced: set[str] = set() if emails_replaced is None else emails_replaced
        # The identity links and groups of users the batch read, when no event of the batch
        # can change them (a SCIM replace then needs no read to build its snapshot).
        self.known_parts = known_parts
        # Fast path, a batch of SCIM user writes on PostgreSQL: new accounts are kept out of
        # the ORM session and inserted with the batch's other rows, in one statement.
        self.new_users = new_users
        # Fast path, a batch of logins on PostgreSQL: a new account and its link are inserted
        # by the next flush, in one statement per table for the batch, not one login at a time.
        self.link_check = link_check
