"""Consuming ``roster.ingest``: one database transaction per batch, one savepoint per event.

Per event, in the same transaction: the canonical change, the ``processed_events`` row with the
reply, and the outbox rows (lifecycle events, ``roster.users`` snapshots). The replies are sent
right after the commit (:mod:`user_store.reply_path`; through the outbox when no sender is
given). The bus commits the offset only after both, so a crash in between redelivers the batch
and the ``processed_events`` rows make the redelivery change nothing but re-sending the replies.

Nothing about a single record stalls its partition: a record whose key is not UTF-8, whose value
does not decode against the contract, that names an unknown tenant, that the database refuses for
its data or that trips a bug goes to ``roster.ingest.dlq`` with its reason, partition and offset
(:mod:`user_store.dead_letters`), and the batch goes on. Errors are told apart by type, not text
(:mod:`user_store.faults`): only infrastructure faults (the database unreachable, a timeout) make
the batch fail, and the bus retries that partition alone after a backoff. A conflict with another
writer is retried the same way a few times, then dead-lettered.

In the safe pass everything one event writes — the batch-wide look-ups, its canonical change, its
``processed_events`` row and its outbox rows — happens inside savepoints, so one event's failure
never takes the others' work with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pydantic import ValidationError
from roster_shared.bus.base import Message, Record
from roster_shared.events import ingest
from roster_shared.events.codec import CONTENT_TYPE, event_record
from roster_shared.events.envelope import Source, utcnow
from roster_shared.events.replies import ErrorCode, Reply, ReplyError
from roster_shared.topics import Topics
from sqlalchemy import JSON, Executable, bindparam, func, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from user_store.apply import Applier, Outcome
from user_store.apply.logins import user_name_keys
from user_store.dead_letters import dead_letter, printable, raw_event_id
from user_store.errors import UnknownTenant, UserStoreError
from user_store.faults import Fault, classify
from user_store.ingest_batch import DeferredLinkCheck, IngestBatch
from user_store.lookups import users_condition
from user_store.outbox import OutboxRelay
from user_store.reply_path import ReplySender
from user_store.snapshots import snapshot_parts
from user_store.tables import ProcessedEventRow, UserRow
from user_store.tenants import get_tenant, tenants_json, tenants_of_json
from user_store.user_history import history_row

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 5
"""Deliveries of a batch a record may fail by conflicting with another writer before it is
dead-lettered: a real conflict resolves on the next try; one that never does is a record's."""


# A batch's reads name hundreds of keys in IN lists. Prepared and run more than five times,
# PostgreSQL may switch such a statement to a generic plan, costed without the values: it then
# believed a tenant holds one account, read the whole tenant through the userName index and
# tested every row against each of the ~1,000 keys in turn (a parameter array is not hashed):
# 300-440 ms per batch at 20,000 accounts, growing with the tenant, where a plan made with the
# values (the IN lists hashed) takes 3-7 ms (auto_explain, bench/ingest_throughput.py).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
CUSTOM_PLANS_FROM = 32
"""Batches of this many events and more plan with their values. Smaller ones keep PostgreSQL's
choice: what a wrong generic plan costs grows with the keys tested per row, a handful here, and
planning every statement of a one-event batch (a SCIM request at concurrency 1, a login) cost
~1.5 ms of its latency in bench/compare.py."""


class RetryLater(Exception):
    """The batch must come again (the bus backs off this partition): an infrastructure fault,
    or a conflict that may resolve."""


@dataclass(frozen=True)
class Undecodable:
    """A record that is no ingestion event: why, for the dead letter."""

    reason: str
    kind: str


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
        self.batches = 0  # batches committed: applied / batches is the batch size achieved
        self.redelivered = 0
        self.dead_lettered = 0
        self.safe_passes = 0  # batches the fast pass could not apply (for tests and benches)
        self.dead_letter_kinds: dict[str, int] = {}
        # (topic, partition, offset) -> deliveries that failed on a conflict (CONFLICT_ATTEMPTS).
        self._conflicts: dict[tuple[str, int, int], int] = {}

    async def __call__(self, messages: Sequence[Message]) -> None:
        """Apply a batch: first fast (no savepoints); if that fails for anything but the
        infrastructure, the whole batch again with savepoints per event, so one bad event
        changes nothing and goes to the DLQ. Raises only when the batch must come again."""
        try:
            batch = await self._run(messages, safe=False)
        except Exception as exc:
            if classify(exc) is Fault.INFRASTRUCTURE:
                raise RetryLater(f"infrastructure: {type(exc).__name__}: {exc}") from exc
            self.safe_passes += 1
            log.info(
                "fast path aborted (%s: %s); applying the batch event by event",
                type(exc).__name__,
                printable(str(exc), 300),
            )
            try:
                batch = await self._run(messages, safe=True)
            except RetryLater:
                raise
            except Exception as exc:
                # Whatever escaped the per-event handling is not a record's (those are caught
                # there): the database, retried after a backoff of this partition.
                raise RetryLater(f"safe pass failed: {type(exc).__name__}: {exc}") from exc
        self._relay.kick()
        if self._replies is not None:
            # Committed: answer the waiters now. A failure raises, so the batch comes back and
            # its stored replies are sent again (reply_path).
            await self._replies.send(batch.reply_records)
        self.applied += batch.applied
        self.batches += 1
        self.redelivered += batch.redelivered
        self.dead_lettered += batch.dead_lettered
        for kind in batch.kinds:
            self.dead_letter_kinds[kind] = self.dead_letter_kinds.get(kind, 0) + 1

    async def _run(self, messages: Sequence[Message], *, safe: bool) -> IngestBatch:
        batch = IngestBatch(self._clock, safe=safe)
        decoded = [(message, _decode(message)) for message in messages]
        async with self._sessions() as session, session.begin():
            postgresql = session.get_bind().dialect.name == "postgresql"
            if postgresql and len(messages) >= CUSTOM_PLANS_FROM:
                await session.execute(text(CUSTOM_PLANS))
            if safe:
                await self._batch_reads_safely(session, decoded, batch)
            else:
                await _batch_reads(session, decoded, batch)
                if _scim_only(decoded):
                    await _known_parts(session, decoded, batch)
                    if postgresql:
                        batch.new_users = []
                elif postgresql and _logins(event for _, event in decoded):
                    # The safe pass keeps the check immediate: a batch that fails it at the
                    # commit is applied again event by event, where the refusal is the event's.
                    batch.link_check = DeferredLinkCheck()
            for message, event in decoded:
                if safe:
                    await self._one_safely(session, message, event, batch)
                else:
                    await self._one(session, message, event, batch)
            await batch.write(session)
        return batch

    # -- the safe pass: savepoints around everything one record writes --------------------

    async def _batch_reads_safely(
        self,
        session: AsyncSession,
        decoded: Sequence[tuple[Message, ingest.IngestEvent | Undecodable]],
        batch: IngestBatch,
    ) -> None:
        """The batch-wide look-ups in a savepoint; when a record's data breaks them, each
        event looks itself up instead (inside its own savepoint)."""
        try:
            async with session.begin_nested():
                await _batch_reads(session, decoded, batch)
        except Exception as exc:
            if classify(exc) is Fault.INFRASTRUCTURE:
                raise
            log.warning(
                "batch look-ups failed (%s); looking events up one by one", type(exc).__name__
            )
            batch.replies.clear()
            batch.lookups.clear()
            batch.tenants.clear()
            batch.check_each = True

    async def _one_safely(
        self,
        session: AsyncSession,
        message: Message,
        event: ingest.IngestEvent | Undecodable,
        batch: IngestBatch,
    ) -> None:
        """One record in a savepoint with everything it writes; a failure that is the record's
        sends it to the DLQ, one that is the infrastructure's (or a conflict) fails the batch."""
        counts = batch.counts()
        try:
            async with session.begin_nested():
                await self._one(session, message, event, batch)
                await batch.write(session)
        except Exception as exc:
            batch.discard(counts)
            batch.lookups.clear()
            fault = classify(exc)
            if fault is Fault.INFRASTRUCTURE:
                raise
            if fault is Fault.CONFLICT and self._retry_conflict(message):
                raise RetryLater(f"conflict at offset {message.offset}: {exc}") from exc
            log.warning(
                "event at %s[%d]@%d could not be applied",
                message.topic,
                message.partition,
                message.offset,
                exc_info=True,
            )
            await self._refuse(session, message, event, batch, exc, fault)
        else:
            self._conflicts.pop((message.topic, message.partition, message.offset), None)

    def _retry_conflict(self, message: Message) -> bool:
        """True while a record's conflicts may still resolve by delivering the batch again."""
        where = (message.topic, message.partition, message.offset)
        attempts = self._conflicts[where] = self._conflicts.get(where, 0) + 1
        if attempts < CONFLICT_ATTEMPTS:
            return True
        del self._conflicts[where]
        return False

    async def _refuse(
        self,
        session: AsyncSession,
        message: Message,
        event: ingest.IngestEvent | Undecodable,
        batch: IngestBatch,
        error: Exception,
        fault: Fault,
    ) -> None:
        """Dead-letter a record that failed, with an error reply to its waiter. It is not
        recorded in ``processed_events``: replayed from the DLQ after a fix, it is applied
        (a redelivery before that may dead-letter it twice, which an operator sees as such)."""
        kind = {Fault.CONFLICT: "conflict"}.get(fault, "error")
        orig = getattr(error, "orig", None)
        if orig is not None:
            kind = "database" if fault is Fault.RECORD else kind
            reason = f"database refused the event: {type(orig).__name__}: {orig}"
        else:
            reason = f"{type(error).__name__}: {error}"
        if fault is Fault.CONFLICT:
            reason = f"conflicted {CONFLICT_ATTEMPTS} times: {reason}"
        counts = batch.counts()
        try:
            async with session.begin_nested():
                self._dead_letter(batch, message, reason, kind)
                if not isinstance(event, Undecodable):
                    failed = _error_reply(event, UserStoreError("could not be applied"))
                    self._reply(batch, failed.model_dump_json(), event.event_id)
                await batch.write(session)
        except Exception as exc:
            batch.discard(counts)
            if classify(exc) is Fault.INFRASTRUCTURE:
                raise
            # Not even its reply could be stored: the dead letter alone, which always fits.
            async with session.begin_nested():
                self._dead_letter(batch, message, reason, kind)
                await batch.write(session)

    # -- one record, either pass ---------------------------------------------------------

    async def _one(
        self,
        session: AsyncSession,
        message: Message,
        event: ingest.IngestEvent | Undecodable,
        batch: IngestBatch,
    ) -> None:
        if isinstance(event, Undecodable):
            reason = event.reason
            self._dead_letter(batch, message, reason, event.kind)
            request_id = raw_event_id(message.value)
            if request_id and not message.undecodable_key:
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
        if done is None and batch.check_each:
            done = (await _already_processed(session, [event])).get(event.event_id)
        if done is not None:
            # Redelivered: the effect is already stored; the waiter may still want its reply.
            batch.redelivered += 1
            self._reply(batch, done, event.event_id)
            return

        tenants = batch.tenants  # on PostgreSQL read by the batch-wide statement already
        if event.tenant_id not in tenants:
            try:
                tenants[event.tenant_id] = await get_tenant(session, event.tenant_id)
            except UnknownTenant:
                tenants[event.tenant_id] = None
        tenant = tenants[event.tenant_id]
        if tenant is None or tenant.id != event.tenant_id:
            error = UnknownTenant(f"no tenant with id {event.tenant_id!r}")
            self._dead_letter(batch, message, error.detail, "unknown_tenant")
            # Not recorded as processed: a replay from the DLQ must be applied after a fix.
            self._reply(batch, _error_reply(event, error).model_dump_json(), event.event_id)
            return

        applier = Applier(
            session,
            tenant,
            self._clock(),
            lookups=batch.lookups,
            fast=not batch.safe,
            email_sink=None if batch.safe else batch.emails,
            emails_replaced=None if batch.safe else batch.emails_replaced,
            known_parts=None if batch.safe else batch.known_parts,
            new_users=None if batch.safe else batch.new_users,
            link_check=None if batch.safe else batch.link_check,
        )
        if not batch.safe:
            # Any exception here aborts the batch; __call__ redoes it in safe mode.
            self._finish(batch, event, await _dispatch(applier, event))
            return
        try:
            async with session.begin_nested():
                outcome = await _dispatch(applier, event)
        except UserStoreError as error:
            # A typed refusal (uniqueness, not found...): the reply says so. Anything else
            # propagates to _one_safely, which decides by its type.
            batch.lookups.clear()
            outcome = Outcome(reply=_error_reply(event, error))
        self._finish(batch, event, outcome)

    def _finish(self, batch: IngestBatch, event: ingest.IngestEvent, outcome: Outcome) -> None:
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
            row = history_row(lifecycle_event)
            if row is not None:
                batch.history.append(row)
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

    def _reply(self, batch: IngestBatch, reply_json: str, request_id: str) -> None:
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

    def _dead_letter(self, batch: IngestBatch, message: Message, reason: str, kind: str) -> None:
        log.warning(
            "dead-lettered %s[%d]@%d (%s): %s",
            message.topic,
            message.partition,
            message.offset,
            kind,
            printable(reason, 300),
        )
        batch.publish(dead_letter(self._topics.dlq, message, reason, kind))
        batch.dead_lettered += 1
        batch.kinds.append(kind)


def _decode(message: Message) -> ingest.IngestEvent | Undecodable:
    """The event a record holds, or why it holds none; never raises."""
    if message.undecodable_key:
        return Undecodable(
            "the record's key is not UTF-8 text (keys are tenant ids)", "undecodable_key"
        )
    try:
        return ingest.INGEST_ADAPTER.validate_json(message.value or b"")
    except ValidationError as exc:
        reason = "invalid event: " + "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        return Undecodable(reason, "invalid")


async def _batch_reads(
    session: AsyncSession,
    decoded: Sequence[tuple[Message, ingest.IngestEvent | Undecodable]],
    batch: IngestBatch,
) -> None:
    """What the batch already applied, its tenants, and the accounts its events may resolve
    to: on PostgreSQL in one round trip (the replies and the tenants aggregated beside the
    users' rows); elsewhere each event looks its tenant up (``IngestProcessor._one``)."""
    events = [event for _, event in decoded if not isinstance(event, Undecodable)]
    wanted = _wanted(events)  # on PostgreSQL the replies come in the same statement
    if not events or session.get_bind().dialect.name != "postgresql":
        batch.replies = await _already_processed(session, events)
        unapplied = [event for event in events if event.event_id not in batch.replies]
        await batch.lookups.prefetch(
            session, _wanted(unapplied), _targets(unapplied), _login_names(unapplied)
        )
        await _links(session, events, batch)
        return
    want = batch.lookups.want(wanted, _targets(events), _login_names(events))
    tenant_ids = sorted({event.tenant_id for event in events})
    params = {"batch_events": [event.event_id for event in events], "batch_tenants": tenant_ids}
    if want is None:
        done, found = (await session.execute(_batch_statement(None), params)).one()
        batch.replies = done or {}
        batch.tenants.update(tenants_of_json(tenant_ids, found))
        await _links(session, events, batch)
        return
    # One row with no user when no user matches: the replies and tenants always come back.
    statement = _batch_statement(want.with_deleted)
    rows = (await session.execute(statement, {**params, **want.params})).all()
    batch.replies = rows[0][0] or {}
    batch.tenants.update(tenants_of_json(tenant_ids, rows[0][1]))
    batch.lookups.loaded(row[2] for row in rows if row[2] is not None)
    await _links(session, events, batch)


@lru_cache(maxsize=3)
def _batch_statement(with_deleted: bool | None) -> Executable:
    """The batch-wide read (:func:`_batch_reads`), built once per form: without users (None),
    with :func:`users_condition`'s live arm, or with its deleted arm too. Its values are bound
    at execution, so a batch pays neither for building the statement nor for SQLAlchemy's
    cache key of it (with a handful of events, that was more CPU than running it)."""
    replies = (
        select(
            func.json_object_agg(
                ProcessedEventRow.event_id, ProcessedEventRow.reply, type_=JSON
            ).label("replies"),
            tenants_json(bindparam("batch_tenants", expanding=True)).label("tenants"),
        )
        .where(col(ProcessedEventRow.event_id).in_(bindparam("batch_events", expanding=True)))
        .subquery()
    )
    if with_deleted is None:
        return select(replies.c.replies, replies.c.tenants)
    return (
        select(replies.c.replies, replies.c.tenants, UserRow)
        .select_from(replies)
        .outerjoin(UserRow, users_condition(with_deleted))
    )


async def _links(
    session: AsyncSession, events: Sequence[ingest.IngestEvent], batch: IngestBatch
) -> None:
    """The accounts the batch's logins are linked to, in one statement for them all (each
    login looked its link up alone before: a round trip per login)."""
    unapplied = [event for event in events if event.event_id not in batch.replies]
    await batch.lookups.prefetch_links(session, _login_links(unapplied))


def _wanted(events: Sequence[ingest.IngestEvent]) -> list[tuple[str, str | None, str]]:
    """The ``(tenant, externalId, userName)`` triples the events' users may resolve by, with
    a login's verified userName keys as names of their own."""
    wanted: list[tuple[str, str | None, str]] = []
    for event in events:
        if isinstance(event, ingest.UserUpserted):
            data = event.data
            wanted.append((event.tenant_id, data.attributes.external_id, data.attributes.user_name))
            wanted.extend((event.tenant_id, None, key) for key in user_name_keys(data))
    return wanted


def _logins(events: Iterable[ingest.IngestEvent | Undecodable]) -> list[ingest.UserUpserted]:
    """The events that are logins (they carry an identity link)."""
    return [
        event
        for event in events
        if isinstance(event, ingest.UserUpserted) and event.data.identity_link is not None
    ]


def _login_names(events: Sequence[ingest.IngestEvent]) -> list[tuple[str, str]]:
    """The ``(tenant, userName)`` names the batch's logins carry (theirs and their verified
    userName keys): whether a deleted account holds one is a login's question."""
    return [
        (event.tenant_id, name)
        for event in _logins(events)
        for name in (event.data.attributes.user_name, *user_name_keys(event.data))
    ]


def _login_links(events: Sequence[ingest.IngestEvent]) -> list[tuple[str, str, str]]:
    """The ``(tenant, issuer, subject)`` identity links the batch's logins carry."""
    return [
        (event.tenant_id, link.issuer, link.subject)
        for event in _logins(events)
        if (link := event.data.identity_link) is not None
    ]


def _targets(events: Sequence[ingest.IngestEvent]) -> list[tuple[str, str]]:
    """The ``(tenant, user id)`` pairs the batch's replaces (SCIM PUT/PATCH) name."""
    return [
        (event.tenant_id, event.data.target_id)
        for event in events
        if isinstance(event, ingest.UserUpserted) and event.data.target_id is not None
    ]


def _scim_only(decoded: Sequence[tuple[Message, ingest.IngestEvent | Undecodable]]) -> bool:
    """Whether every event of the batch is a SCIM, admin or reconciler user write: none of
    them changes identity links or groups (logins, group events and deletes do), and none reads
    an account the batch creates except through the batch's look-ups."""
    return all(
        isinstance(event, Undecodable)
        or (isinstance(event, ingest.UserUpserted) and event.source is not Source.JIT)
        for _, event in decoded
    )


async def _known_parts(
    session: AsyncSession,
    decoded: Sequence[tuple[Message, ingest.IngestEvent | Undecodable]],
    batch: IngestBatch,
) -> None:
    """The identity links and groups of the users a batch of SCIM writes (:func:`_scim_only`)
    replaces, read once for the batch, so each replace builds its snapshot without a read."""
    events = [event for _, event in decoded if not isinstance(event, Undecodable)]
    ids = {user_id for _, user_id in _targets(events)}
    if ids:
        batch.known_parts = await snapshot_parts(session, sorted(ids))


async def _already_processed(
    session: AsyncSession, events: Sequence[ingest.IngestEvent]
) -> dict[str, str]:
    """Replies of these events that an earlier delivery already applied."""
    ids = [event.event_id for event in events]
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
