"""Consuming ``roster.ingest``: one database transaction per batch, one savepoint per event.

Per event, in the same transaction: the canonical change, the ``processed_events`` row with the
reply, and the outbox rows (lifecycle events, ``roster.users`` snapshots). The replies are sent
right after the commit (:mod:`user_store.reply_path`; through the outbox when no sender is
given). The bus commits the offset only after both, so a crash in between redelivers the batch
and the ``processed_events`` rows make the redelivery change nothing but re-sending the replies.

Bad input does not stall the partition: an event that fails validation, names an unknown tenant
or trips a bug goes to ``roster.ingest.dlq`` with its reason. Only infrastructure failures
(the database unreachable) make the whole batch fail and come back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from roster_shared.bus.base import Message, Record
from roster_shared.events import ingest
from roster_shared.events.codec import CONTENT_TYPE, event_record
from roster_shared.events.envelope import utcnow
from roster_shared.events.replies import ErrorCode, Reply, ReplyError
from roster_shared.tenants import TenantInfo
from roster_shared.topics import Topics
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from user_store.apply import Applier, Outcome
from user_store.errors import UnknownTenant, UserStoreError
from user_store.lookups import UserLookups
from user_store.outbox import OutboxRelay, dlq_value, outbox_values
from user_store.reply_path import ReplySender
from user_store.tables import OutboxRow, ProcessedEventRow, UserEmailRow
from user_store.tenants import get_tenant

log = logging.getLogger(__name__)


class _Batch:
    """What one batch writes besides the canonical changes, inserted in bulk before the commit:
    ``processed_events`` rows and outbox rows, in the order they were produced."""

    def __init__(self, clock: Callable[[], datetime], *, safe: bool) -> None:
        self.clock = clock
        self.safe = safe
        self.lookups = UserLookups()
        self.applied = 0
        self.redelivered = 0
        self.dead_lettered = 0
        self.processed: list[dict[str, Any]] = []
        self.emails: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.replies: dict[str, str] = {}  # event id -> reply JSON, for in-batch redelivery
        self.reply_records: list[Record] = []  # sent after the commit (reply_path)

    def publish(self, record: Record) -> None:
        self.outbox.append(outbox_values(record))

    async def write(self, session: AsyncSession) -> None:
        await session.flush()  # the accounts first: their e-mail rows refer to them
        if self.emails:
            await session.execute(insert(UserEmailRow), self.emails)
        if self.processed:
            await session.execute(insert(ProcessedEventRow), self.processed)
        if self.outbox:
            await session.execute(insert(OutboxRow), self.outbox)


class IngestProcessor:
    """The batch handler the user-store subscribes to ``roster.ingest`` with."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: OutboxRelay,
        *,
        clock: Callable[[], datetime] = utcnow,
        topics: Topics = Topics(),
        replies: ReplySender | None = None,
    ) -> None:
        self._sessions = sessions
        self._topics = topics
        self._relay = relay
        self._replies = replies
        self._clock = clock
        self.applied = 0
        self.redelivered = 0
        self.dead_lettered = 0

    async def __call__(self, messages: Sequence[Message]) -> None:
        """Apply a batch: first fast (no savepoints), and if anything at all goes wrong, the
        whole batch again with a savepoint per event, so one bad event changes nothing."""
        try:
            batch = await self._run(messages, safe=False)
        except Exception as exc:
            log.info(
                "fast path aborted (%s: %s); applying the batch event by event",
                type(exc).__name__,
                exc,
            )
            batch = await self._run(messages, safe=True)
        self._relay.kick()
        if self._replies is not None:
            # Committed: answer the waiters now. A failure raises, so the batch comes back and
            # its stored replies are sent again (reply_path).
            await self._replies.send(batch.reply_records)
        self.applied += batch.applied
        self.redelivered += batch.redelivered
        self.dead_lettered += batch.dead_lettered

    async def _run(self, messages: Sequence[Message], *, safe: bool) -> _Batch:
        tenants: dict[str, TenantInfo | None] = {}
        batch = _Batch(self._clock, safe=safe)
        decoded = [(message, _decode(message)) for message in messages]
        async with self._sessions() as session, session.begin():
            batch.replies = await _already_processed(session, decoded)
            await batch.lookups.prefetch(
                session,
                (
                    (
                        event.tenant_id,
                        event.data.attributes.external_id,
                        event.data.attributes.user_name,
                    )
                    for _, event in decoded
                    if isinstance(event, ingest.UserUpserted)
                    and event.event_id not in batch.replies
                ),
            )
            for message, event in decoded:
                await self._one(session, message, event, tenants, batch)
            await batch.write(session)
        return batch

    async def _one(
        self,
        session: AsyncSession,
        message: Message,
        event: ingest.IngestEvent | ValidationError,
        tenants: dict[str, TenantInfo | None],
        batch: _Batch,
    ) -> None:
        if isinstance(event, ValidationError):
            reason = "invalid event: " + "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in event.errors()[:5]
            )
            self._dead_letter(batch, message, reason)
            request_id = _raw_event_id(message.value)
            if request_id:
                self._reply(
                    batch,
                    Reply(
                        request_id=request_id,
                        tenant_id=message.key or "",
                        error=ReplyError(code=ErrorCode.INVALID, detail=reason),
                    ).model_dump_json(),
                    request_id,
                )
            return

        done = batch.replies.get(event.event_id)
        if done is not None:
            # Redelivered: the effect is already stored; the waiter may still want its reply.
            batch.redelivered += 1
            self._reply(batch, done, event.event_id)
            return

        if event.tenant_id not in tenants:
            try:
                tenants[event.tenant_id] = await get_tenant(session, event.tenant_id)
            except UnknownTenant:
                tenants[event.tenant_id] = None
        tenant = tenants[event.tenant_id]
        if tenant is None or tenant.id != event.tenant_id:
            error = UnknownTenant(f"no tenant with id {event.tenant_id!r}")
            self._dead_letter(batch, message, error.detail)
            self._finish(batch, event, Outcome(reply=_error_reply(event, error)))
            return

        applier = Applier(
            session,
            tenant,
            self._clock(),
            lookups=batch.lookups,
            fast=not batch.safe,
            email_sink=None if batch.safe else batch.emails,
        )
        if not batch.safe:
            # Any exception here aborts the batch; __call__ redoes it in safe mode.
            self._finish(batch, event, await _dispatch(applier, event))
            return
        try:
            async with session.begin_nested():
                outcome = await _dispatch(applier, event)
        except UserStoreError as error:
            batch.lookups.clear()
            outcome = Outcome(reply=_error_reply(event, error))
        except (OperationalError, DBAPIError) as exc:
            batch.lookups.clear()
            if _is_connection_problem(exc):
                raise
            log.exception("event %s failed in the database", event.event_id)
            self._dead_letter(batch, message, f"database refused the event: {exc.orig}")
            outcome = Outcome(reply=_error_reply(event, UserStoreError("could not be applied")))
        except Exception as exc:
            batch.lookups.clear()
            log.exception("event %s could not be applied", event.event_id)
            self._dead_letter(batch, message, f"{type(exc).__name__}: {exc}")
            outcome = Outcome(reply=_error_reply(event, UserStoreError("could not be applied")))
        self._finish(batch, event, outcome)

    def _finish(self, batch: _Batch, event: ingest.IngestEvent, outcome: Outcome) -> None:
        reply_json = outcome.reply.model_dump_json()
        batch.processed.append(
            {
                "event_id": event.event_id,
                "tenant_id": event.tenant_id,
                "processed_at": batch.clock(),
                "reply": reply_json,
            }
        )
        for lifecycle_event in outcome.events:
            batch.publish(event_record(self._topics.lifecycle, lifecycle_event))
        for snapshot in outcome.users:
            batch.publish(
                Record(
                    topic=self._topics.users,
                    key=f"{snapshot.tenant_id}:{snapshot.id}",
                    value=snapshot.model_dump_json().encode(),
                    headers=(CONTENT_TYPE,),
                )
            )
        for user_id in outcome.deleted_users:
            batch.publish(
                Record(topic=self._topics.users, key=f"{event.tenant_id}:{user_id}", value=None)
            )
        self._reply(batch, reply_json, event.event_id)
        batch.applied += 1

    def _reply(self, batch: _Batch, reply_json: str, request_id: str) -> None:
        batch.replies[request_id] = reply_json
        record = Record(
            topic=self._topics.replies,
            key=request_id,
            value=reply_json.encode(),
            headers=(CONTENT_TYPE,),
        )
        if self._replies is not None:
            batch.reply_records.append(record)
        else:
            batch.publish(record)

    def _dead_letter(self, batch: _Batch, message: Message, reason: str) -> None:
        log.warning(
            "dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason
        )
        batch.publish(
            Record(
                topic=self._topics.dlq,
                key=message.key or "",
                value=dlq_value(
                    reason,
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                ).encode(),
                headers=(CONTENT_TYPE, ("reason", reason[:500].encode())),
            )
        )
        batch.dead_lettered += 1


def _decode(message: Message) -> ingest.IngestEvent | ValidationError:
    try:
        return ingest.INGEST_ADAPTER.validate_json(message.value or b"")
    except ValidationError as exc:
        return exc


async def _already_processed(
    session: AsyncSession, decoded: Sequence[tuple[Message, ingest.IngestEvent | ValidationError]]
) -> dict[str, str]:
    """Replies of the events in this batch that an earlier delivery already applied."""
    ids = [event.event_id for _, event in decoded if not isinstance(event, ValidationError)]
    if not ids:
        return {}
    rows = await session.execute(
        select(ProcessedEventRow.event_id, ProcessedEventRow.reply).where(
            col(ProcessedEventRow.event_id).in_(ids)
        )
    )
    return {event_id: reply for event_id, reply in rows.all()}


async def _dispatch(applier: Applier, event: ingest.IngestEvent) -> Outcome:
    match event:
        case ingest.UserUpserted():
            return await applier.user_upserted(event)
        case ingest.UserDeactivated():
            return await applier.user_deactivated(event)
        case ingest.UserDeleted():
            return await applier.user_deleted(event)
        case ingest.GroupUpserted():
            return await applier.group_upserted(event)
        case ingest.GroupMembersChanged():
            return await applier.group_members_changed(event)
        case ingest.GroupDeleted():
            return await applier.group_deleted(event)


def _error_reply(event: ingest.IngestEvent, error: UserStoreError) -> Reply:
    return Reply(request_id=event.event_id, tenant_id=event.tenant_id, error=error.to_reply_error())


def _raw_event_id(value: bytes | None) -> str | None:
    try:
        data = json.loads(value or b"")
    except ValueError:
        return None
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return event_id if isinstance(event_id, str) and 0 < len(event_id) <= 64 else None


def _is_connection_problem(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or (
        isinstance(exc, OperationalError)
        and ("connect" in str(exc).lower() or "closed" in str(exc).lower())
    )
