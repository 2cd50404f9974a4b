"""What one batch of ``roster.ingest`` writes besides the canonical changes, and sends after.

The consumer (:mod:`user_store.consumer`) fills one of these per pass: ``processed_events`` rows,
outbox rows, e-mail and history rows are inserted in bulk before the commit; the replies are sent
after it. After a savepoint rolls back, :meth:`IngestBatch.discard` forgets what was counted for
it, so a reply never announces a change that was undone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from roster_shared.bus.base import Record
from roster_shared.events.people import IdentityLink, MemberRef
from roster_shared.tenants import TenantInfo
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from user_store.bulk_rows import insert_rows
from user_store.lookups import UserLookups
from user_store.outbox import outbox_values
from user_store.tables import OutboxRow, ProcessedEventRow, UserEmailRow, UserRow
from user_store.user_history import user_history

DEFER_LINK_CHECK = "SET CONSTRAINTS identity_links_user_id_fkey DEFERRED"


class DeferredLinkCheck:
    """A batch whose identity links' foreign key may be checked at its commit (migration 0010),
    so that its new accounts and their links are inserted by its flush, one statement per
    table, in whatever order the ORM writes them. Said to the database once, by the first
    login that makes an account (a batch of returning logins never pays for it)."""

    def __init__(self) -> None:
        self.said = False

    async def defer(self, session: AsyncSession) -> None:
        if not self.said:
            await session.execute(sa.text(DEFER_LINK_CHECK))
            self.said = True


class IngestBatch:
    """What one batch writes besides the canonical changes, inserted in bulk before the commit:
    ``processed_events`` rows and outbox rows, in the order they were produced."""

    def __init__(self, clock: Callable[[], datetime], *, safe: bool) -> None:
        self.clock = clock
        self.safe = safe
        self.lookups = UserLookups()
        # The batch's tenants by id (None: no such tenant), read by the batch-wide statement on
        # PostgreSQL; an id missing here is looked up by the event that names it.
        self.tenants: dict[str, TenantInfo | None] = {}
        self.applied = 0
        self.redelivered = 0
        self.dead_lettered = 0
        self.kinds: list[str] = []  # of each dead letter, in order
        self.processed: list[dict[str, Any]] = []
        self.emails: dict[str, list[dict[str, Any]]] = {}  # user id -> its e-mail rows
        self.emails_replaced: set[str] = set()  # users whose stored e-mail rows go first
        # Links and groups of the users the batch replaces (consumer._known_parts), or None.
        self.known_parts: dict[str, tuple[list[IdentityLink], list[MemberRef]]] | None = None
        # New accounts inserted in bulk rather than by the ORM (consumer._scim_only), or None.
        self.new_users: list[UserRow] | None = None
        # A batch of logins on PostgreSQL's fast pass (consumer._run), or None.
        self.link_check: DeferredLinkCheck | None = None
        self.outbox: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []  # user_history rows, beside their outbox rows
        self.replies: dict[str, str] = {}  # event id -> reply JSON, for in-batch redelivery
        self.reply_records: list[Record] = []  # sent after the commit (reply_path)
        # Safe pass: the batch-wide look-ups failed, so each event checks its own id.
        self.check_each = False

    def publish(self, record: Record) -> None:
        self.outbox.append(outbox_values(record))

    async def write(self, session: AsyncSession) -> None:
        """Insert what is pending (then nothing is: the safe pass writes after each event)."""
        await session.flush()  # the accounts first: their e-mail rows refer to them
        if self.emails_replaced:
            await session.execute(
                delete(UserEmailRow).where(col(UserEmailRow.user_id).in_(self.emails_replaced))
            )
        if session.get_bind().dialect.name == "postgresql":
            # One statement, one round trip, for all four tables (bulk_rows).
            await insert_rows(
                session,
                [
                    (_table(UserRow), [_values(user) for user in self.new_users or ()]),
                    (_table(UserEmailRow), self.email_rows()),
                    (_table(ProcessedEventRow), self.processed),
                    (_table(OutboxRow), self.outbox),
                    (user_history, self.history),
                ],
            )
            self.discard()
            return
        if emails := self.email_rows():
            await session.execute(insert(UserEmailRow), emails)
        if self.processed:
            await session.execute(insert(ProcessedEventRow), self.processed)
        if self.outbox:
            await session.execute(insert(OutboxRow), self.outbox)
        if self.history:
            await session.execute(insert(user_history), self.history)
        self.discard()

    def email_rows(self) -> list[dict[str, Any]]:
        return [row for rows in self.emails.values() for row in rows]

    def counts(self) -> tuple[int, int, int, int, int]:
        """Where the batch stands, for :meth:`discard` after a savepoint rolls back."""
        return (
            self.applied,
            self.redelivered,
            self.dead_lettered,
            len(self.reply_records),
            len(self.replies),
        )

    def discard(self, counts: tuple[int, int, int, int, int] | None = None) -> None:
        """Forget what is pending (and, after a rollback, what was counted for it — the
        replies included: a reply must never announce a change its savepoint rolled back)."""
        self.processed.clear()
        self.emails.clear()
        self.emails_replaced.clear()
        self.outbox.clear()
        self.history.clear()
        if counts is not None:
            self.applied, self.redelivered, self.dead_lettered, records, replies = counts
            del self.kinds[self.dead_lettered :]
            del self.reply_records[records:]
            for request_id in list(self.replies)[replies:]:
                del self.replies[request_id]


_USER_COLUMNS: tuple[str, ...] = tuple(
    column.name
    for column in UserRow.__table__.columns  # type: ignore[attr-defined]
)


def _values(user: UserRow) -> dict[str, Any]:
    """A new account's column values as it stands now (later events of the batch may have
    changed it): from its ``__dict__``, where :func:`~user_store.apply.writes.new_row` put
    every field."""
    loaded = user.__dict__
    return {name: loaded[name] for name in _USER_COLUMNS}


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table
