"""One reconciler run for one tenant: look, decide, and publish — never write the database.

A run holds the tenant's lease (so exactly one instance runs a tenant at a time), reads every
user the reconciler looks after through the user-store's read API, asks the tenant's directory
for a complete snapshot, and decides per user: deactivate (disabled or deleted in the directory,
absent for enough complete snapshots in a row, inactive for too long, or a JIT user SCIM never
confirmed when the tenant chose so), reactivate (``jit``: the directory says active again), or
report. It then publishes ``UserDeactivated`` (and reactivating ``UserUpserted``) ingestion events
with source ``reconciler`` and the reason, unless:

* the snapshot is incomplete: any page failing aborts the run with no change;
* the mass-deactivation brake trips: the run is *held* until an admin approves it;
* it is a dry run: the record says what would happen.

Every run leaves a record (what was checked, what was decided and why, how long after the
directory change), stored by the user-store and readable through the CLI and the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, Field
from roster_shared.bus.base import Bus
from roster_shared.bus.ingest import IngestClient, IngestTimeout
from roster_shared.bus.requests import Requester
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import EnvelopeBase, Source, new_id, utcnow
from roster_shared.events.people import UserAttributes, UserSnapshot
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

from reconciler.credentials import CredentialError, Vault
from reconciler.directory import (
    DirectoryError,
    DirectoryUser,
    HttpClient,
    RetryPolicy,
    Snapshot,
    Status,
    connector,
)
from reconciler.errors import Busy, Conflict, NotFound
from reconciler.policy import DirectoryConfig, ReconcilerPolicy, tenant_directory, tenant_policy
from reconciler.store import StateStore

log = logging.getLogger(__name__)

Signal = Literal["directory", "absent", "inactivity", "unconfirmed"]


class Action(BaseModel):
    """One decision about one user."""

    user_id: str
    user_name: str
    action: Literal["deactivate", "reactivate", "report"]
    signal: Signal
    reason: str
    changed_at: datetime | None = Field(
        default=None, description="When the directory says the change happened."
    )
    delay_seconds: float | None = Field(
        default=None, description="From the directory change to this run's decision."
    )
    outcome: str = "planned"  # would | held | published | skipped: ...


class RunRecord(BaseModel):
    """What a run checked, decided and did (the JSON ``roster reconcile --json`` prints)."""

    id: str
    tenant_id: str
    tenant: str
    mode: str
    trigger: str
    dry_run: bool
    status: Literal["running", "held", "completed", "failed", "rejected"] = "running"
    instance: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    policy: dict[str, Any] = Field(default_factory=dict)
    directory: dict[str, Any] | None = None
    checked: dict[str, int] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    reported: list[Action] = Field(default_factory=list)
    brake: dict[str, Any] | None = None
    published: int = 0
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    approved_by: str | None = None
    approved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A user as a run sees them (the user-store's lean scan)."""

    id: str
    user_name: str
    external_id: str | None
    active: bool
    origin: str
    scim_managed: bool
    created_at: datetime
    last_login_at: datetime | None
    deactivated_reason: str | None
    emails: tuple[str, ...]
    subjects: tuple[str, ...]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Member:
        """From the scan's JSON."""
        last = data.get("last_login_at")
        return cls(
            id=data["id"],
            user_name=data["user_name"],
            external_id=data.get("external_id"),
            active=bool(data["active"]),
            origin=str(data.get("origin", "")),
            scim_managed=bool(data.get("scim_managed")),
            created_at=_aware(datetime.fromisoformat(data["created_at"])),
            last_login_at=_aware(datetime.fromisoformat(last)) if last else None,
            deactivated_reason=data.get("deactivated_reason"),
            emails=tuple(e for e in data.get("emails") or () if isinstance(e, str)),
            subjects=tuple(data.get("subjects") or ()),
        )


class LeaseLost(Exception):
    """Another instance took the tenant over (our lease expired): stop before publishing."""


class Reconciler:
    """Runs tenants; shared by the schedule, the API and the CLI."""

    def __init__(
        self,
        users: UserStoreClient,
        store: StateStore,
        bus: Bus,
        *,
        vault: Vault,
        topics: Topics | None = None,
        instance: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        retry: RetryPolicy | None = None,
        lease_ttl: float = 60.0,
        page_size: int = 5000,
        publish_chunk: int = 1000,
        requester: Requester | None = None,
        confirm_timeout: float = 30.0,
        on_record: Callable[[RunRecord], None] | None = None,
    ) -> None:
        self.users = users
        self.store = store
        self.bus = bus
        self.vault = vault
        self.topics = topics or Topics()
        self.instance = instance or f"reconciler-{new_id()[:8]}"
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.lease_ttl = lease_ttl
        self.page_size = page_size
        self.publish_chunk = publish_chunk
        self.requester = requester
        self.confirm_timeout = confirm_timeout
        self.on_record = on_record

    # -- entry points ----------------------------------------------------------------------

    async def run(
        self, tenant_ref: str, *, dry_run: bool = False, trigger: str = "demand"
    ) -> RunRecord:
        """Reconcile one tenant now; :class:`Busy` if another instance is running it."""
        tenant = await self.tenant(tenant_ref)
        async with self._lease(tenant) as lost:
            record = RunRecord(
                id=new_id(),
                tenant_id=tenant.id,
                tenant=tenant.slug,
                mode=tenant.mode.value,
                trigger=trigger,
                dry_run=dry_run,
                instance=self.instance,
                started_at=self.clock(),
            )
            await self._save(record)
            try:
                await self._reconcile(tenant, record, lost)
            except (DirectoryError, CredentialError, LeaseLost) as error:
                record.status = "failed"
                record.error = f"{type(error).__name__}: {error}"
                for action in record.actions:
                    action.outcome = "skipped: run failed"
                record.notes.append("nothing was changed")
            except Exception as error:
                record.status = "failed"
                record.error = f"internal error: {type(error).__name__}: {error}"
                log.exception("reconciler run failed", extra={"tenant": tenant.id})
            self._finish(record)
            await self._save(record)
            if self.on_record is not None:
                self.on_record(record)
            if not dry_run:
                # Held and failed runs count too: the schedule waits its interval either way.
                await self._remember(tenant.id, last_run_at=record.started_at.isoformat())
                await self._supersede(tenant, record)
            return record

    async def approve(self, tenant_ref: str, run_id: str, *, by: str) -> RunRecord:
        """Carry out a held run's deactivations (each user re-read: still active?)."""
        tenant = await self.tenant(tenant_ref)
        async with self._lease(tenant) as lost:
            record = RunRecord.model_validate(await self.store.run(tenant.id, run_id))
            if record.status != "held":
                raise Conflict(f"run {run_id} is {record.status}, not held for approval")
            pairs: list[tuple[Action, EnvelopeBase]] = []
            for action in record.actions:
                try:
                    user = await self.users.user(tenant.id, action.user_id)
                except UserStoreClientError:
                    action.outcome = "skipped: user no longer exists"
                    continue
                event = self._event(tenant, record.id, user, action)
                if event is None:
                    action.outcome = "skipped: already " + (
                        "inactive" if not user.active else "active"
                    )
                    continue
                pairs.append((action, event))
            await self._publish(tenant, pairs, lost)
            record.published = len(pairs)
            record.status = "completed"
            record.approved_by = by
            record.approved_at = self.clock()
            record.notes.append(f"approved by {by}")
            await self._save(record)
            if self.on_record is not None:
                self.on_record(record)
            return record

    async def reject(self, tenant_ref: str, run_id: str, *, by: str) -> RunRecord:
        """Drop a held run: nothing is changed."""
        tenant = await self.tenant(tenant_ref)
        record = RunRecord.model_validate(await self.store.run(tenant.id, run_id))
        if record.status != "held":
            raise Conflict(f"run {run_id} is {record.status}, not held for approval")
        record.status = "rejected"
        for action in record.actions:
            action.outcome = "skipped: rejected"
        record.notes.append(f"rejected by {by}")
        await self._save(record)
        return record

    # -- the run ---------------------------------------------------------------------------

    async def _reconcile(self, tenant: TenantInfo, record: RunRecord, lost: asyncio.Event) -> None:
        policy = tenant_policy(tenant.settings)
        record.policy = policy.model_dump(mode="json")
        if tenant.mode is ProvisioningMode.SCIM:
            record.status = "completed"
            record.notes.append("mode scim: SCIM owns every account's lifecycle; nothing to do")
            return
        users = await self._all_users(tenant.id)
        candidates = [u for u in users if tenant.mode is ProvisioningMode.JIT or not u.scim_managed]
        active = [u for u in candidates if u.active]
        record.checked = {
            "users": len(users),
            "looked_after": len(candidates),
            "active": len(active),
        }
        if tenant.mode is ProvisioningMode.SCIM_JIT:
            record.notes.append("scim+jit: only users SCIM has not confirmed are looked after")
        config = tenant_directory(tenant.settings)
        index: _Index | None = None
        state = await self.store.state(tenant.id)
        misses: dict[str, int] = dict(state.get("misses") or {})
        if config is not None:
            snapshot = await self._snapshot(config)
            index = _Index(snapshot.users)
            record.directory = {
                "kind": config.kind,
                "url": config.url,
                "pages": snapshot.pages,
                "requests": snapshot.requests,
                "retries": snapshot.retries,
                "listed": len(snapshot.users),
                "disabled": sum(u.status is Status.DISABLED for u in snapshot.users),
                "deleted": sum(u.status is Status.DELETED for u in snapshot.users),
                "complete": True,
            }
        now = self.clock()
        new_misses: dict[str, int] = {}
        for user in candidates:
            action = self._decide(tenant, policy, config, index, misses, new_misses, user, now)
            if action is None:
                continue
            if action.action == "report":
                record.reported.append(action)
            else:
                record.actions.append(action)
        if index is not None:
            record.checked["matched"] = index.matched
            record.checked["absent"] = sum(
                1 for a in record.actions + record.reported if a.signal == "absent"
            )
        deactivations = [a for a in record.actions if a.action == "deactivate"]
        share = len(deactivations) / len(active) if active else 0.0
        tripped = len(deactivations) > policy.brake_count or share > policy.brake_share
        record.brake = {
            "tripped": tripped,
            "deactivations": len(deactivations),
            "share": round(share, 4),
            "limit_share": policy.brake_share,
            "limit_count": policy.brake_count,
        }
        if record.dry_run:
            for action in record.actions:
                action.outcome = "would"
            record.status = "completed"
            record.notes.append(
                "dry run: nothing was changed"
                + ("; a real run would be held by the brake" if tripped else "")
            )
            return
        if tripped:
            for action in record.actions:
                action.outcome = "held"
            record.status = "held"
            record.notes.append(
                f"mass-deactivation brake: {len(deactivations)} of {len(active)} active users "
                f"({share:.0%}) exceeds the limit ({policy.brake_share:.0%} or "
                f"{policy.brake_count}); nothing was changed until an admin approves this run"
            )
            return
        pairs = [(action, self._event_for(tenant, record.id, action)) for action in record.actions]
        await self._publish(tenant, pairs, lost)
        record.published = len(pairs)
        record.status = "completed"
        await self._remember(tenant.id, misses=new_misses)

    def _decide(
        self,
        tenant: TenantInfo,
        policy: ReconcilerPolicy,
        config: DirectoryConfig | None,
        index: _Index | None,
        misses: dict[str, int],
        new_misses: dict[str, int],
        user: Member,
        now: datetime,
    ) -> Action | None:
        match = index.find(user) if index is not None else None
        kind = config.kind if config is not None else ""

        def act(
            action: Literal["deactivate", "reactivate", "report"],
            signal: Signal,
            reason: str,
            entry: DirectoryUser | None = None,
        ) -> Action:
            changed = _aware(entry.changed_at) if entry and entry.changed_at else None
            return Action(
                user_id=user.id,
                user_name=user.user_name,
                action=action,
                signal=signal,
                reason=reason,
                changed_at=changed,
                delay_seconds=(now - changed).total_seconds() if changed else None,
            )

        if not user.active:
            if (
                tenant.mode is ProvisioningMode.JIT
                and policy.reactivate
                and match is not None
                and match.status is Status.ACTIVE
                and (user.deactivated_reason or "").startswith("directory")
            ):
                return act("reactivate", "directory", f"directory ({kind}): active again", match)
            return None
        if index is not None:
            if match is None:
                count = misses.get(user.id, 0) + 1
                new_misses[user.id] = count
                if count >= policy.consecutive_misses:
                    return act(
                        "deactivate",
                        "absent",
                        f"directory ({kind}): not listed in {count} complete "
                        f"snapshot{'s' if count > 1 else ''} in a row",
                    )
                return act(
                    "report",
                    "absent",
                    f"directory ({kind}): not listed (miss {count} of "
                    f"{policy.consecutive_misses} before deactivation)",
                )
            if match.status is not Status.ACTIVE:
                return act(
                    "deactivate",
                    "directory",
                    f"directory ({kind}): {match.detail or match.status.value}",
                    match,
                )
        if policy.inactivity_days is not None:
            last = user.last_login_at or user.created_at
            if now - last >= timedelta(days=policy.inactivity_days):
                seen = (
                    f"last login {user.last_login_at:%Y-%m-%d}"
                    if user.last_login_at
                    else f"never logged in since {user.created_at:%Y-%m-%d}"
                )
                return act(
                    "deactivate",
                    "inactivity",
                    f"inactivity: no successful login for {policy.inactivity_days} days ({seen})",
                )
        if (
            tenant.mode is ProvisioningMode.SCIM_JIT
            and user.origin == "jit"
            and not user.scim_managed
            and now - user.created_at >= timedelta(days=policy.grace_days)
        ):
            reason = (
                f"scim+jit: created by a login on {user.created_at:%Y-%m-%d} and not confirmed "
                f"by SCIM within {policy.grace_days} days"
            )
            return act(
                "deactivate" if policy.deactivate_unconfirmed else "report", "unconfirmed", reason
            )
        return None

    # -- helpers ---------------------------------------------------------------------------

    async def tenant(self, ref: str) -> TenantInfo:
        """A tenant by id or slug; :class:`NotFound` if there is none."""
        try:
            return await self.users.tenant(ref)
        except UserStoreClientError as error:
            if error.status == 404:
                raise NotFound(f"no tenant {ref!r}") from error
            raise

    @contextlib.asynccontextmanager
    async def _lease(self, tenant: TenantInfo) -> AsyncIterator[asyncio.Event]:
        acquired, holder = await self.store.acquire(tenant.id, self.instance, self.lease_ttl)
        if not acquired:
            raise Busy(f"tenant {tenant.slug!r} is being reconciled by {holder}")
        lost = asyncio.Event()

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(self.lease_ttl / 3)
                try:
                    ok, _ = await self.store.acquire(tenant.id, self.instance, self.lease_ttl)
                except Exception:  # a missed renewal is retried; expiry decides
                    log.warning("lease renewal failed", exc_info=True)
                    continue
                if not ok:
                    lost.set()
                    return

        task = asyncio.create_task(heartbeat())
        try:
            yield lost
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if not lost.is_set():
                with contextlib.suppress(Exception):
                    await self.store.release(tenant.id, self.instance)

    async def _all_users(self, tenant_id: str) -> list[Member]:
        users: list[Member] = []
        cursor: str | None = None
        while True:
            page, cursor = await self.store.users(tenant_id, after=cursor, limit=self.page_size)
            users.extend(Member.of(item) for item in page)
            if cursor is None:
                return users

    async def _snapshot(self, config: DirectoryConfig) -> Snapshot:
        token = self.vault.decrypt(config.token)
        async with aiohttp.ClientSession() as session:
            return await connector(
                config.kind, config.url, token, HttpClient(session, self.retry)
            ).snapshot()

    def _event_for(self, tenant: TenantInfo, run_id: str, action: Action) -> EnvelopeBase:
        if action.action == "reactivate":
            return ingest.UserUpserted(
                tenant_id=tenant.id,
                source=Source.RECONCILER,
                correlation_id=run_id,
                data=ingest.UserUpsertedData(
                    attributes=UserAttributes(user_name=action.user_name, active=True),
                    target_id=action.user_id,
                ),
            )
        return ingest.UserDeactivated(
            tenant_id=tenant.id,
            source=Source.RECONCILER,
            correlation_id=run_id,
            data=ingest.UserRef(user_id=action.user_id, reason=action.reason),
        )

    def _event(
        self, tenant: TenantInfo, run_id: str, user: UserSnapshot, action: Action
    ) -> EnvelopeBase | None:
        if (action.action == "deactivate") != user.active:
            return None
        return self._event_for(tenant, run_id, action)

    async def _publish(
        self,
        tenant: TenantInfo,
        pairs: Sequence[tuple[Action, EnvelopeBase]],
        lost: asyncio.Event,
    ) -> None:
        """Publish the events; with a requester, wait for the user-store's replies and put
        each outcome in the record (``applied`` or why not)."""
        if not pairs:
            return
        # Renew right before publishing: an instance whose lease ran out must not act.
        ok, holder = await self.store.acquire(tenant.id, self.instance, self.lease_ttl)
        if not ok or lost.is_set():
            raise LeaseLost(f"the lease of tenant {tenant.slug!r} passed to {holder}")
        if self.requester is None:
            for start in range(0, len(pairs), self.publish_chunk):
                chunk = pairs[start : start + self.publish_chunk]
                await self.bus.send_batch(
                    [event_record(self.topics.ingest, event) for _, event in chunk]
                )
                for action, _ in chunk:
                    action.outcome = "published"
            return
        client = IngestClient(self.requester, self.topics.ingest, self.confirm_timeout)
        limit = asyncio.Semaphore(64)

        async def confirm(action: Action, event: EnvelopeBase) -> None:
            async with limit:
                try:
                    reply = await client.submit(event)
                except IngestTimeout:
                    action.outcome = "published (no reply yet)"
                    return
            action.outcome = "applied" if reply.ok else f"refused: {reply.error.detail}"  # type: ignore[union-attr]

        await asyncio.gather(*(confirm(action, event) for action, event in pairs))

    async def _supersede(self, tenant: TenantInfo, record: RunRecord) -> None:
        """Only the latest run may be approved: older held runs decided on older snapshots."""
        for old in await self.store.runs(tenant.id, status="held", limit=100):
            if old["id"] == record.id:
                continue
            previous = RunRecord.model_validate(old)
            previous.status = "rejected"
            for action in previous.actions:
                action.outcome = "skipped: superseded"
            previous.notes.append(f"superseded by run {record.id}")
            await self._save(previous)

    async def _remember(self, tenant_id: str, **changes: Any) -> None:
        state = await self.store.state(tenant_id)
        state.update(changes)
        await self.store.put_state(tenant_id, state)

    async def _save(self, record: RunRecord) -> None:
        await self.store.save_run(record.tenant_id, record.model_dump(mode="json"))

    def _finish(self, record: RunRecord) -> None:
        record.finished_at = self.clock()
        record.duration_seconds = round((record.finished_at - record.started_at).total_seconds(), 3)


def _aware(moment: datetime) -> datetime:
    """Every stored time is UTC; SQLite gives it back without its zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _key(value: str) -> str:
    return value.strip().casefold()


class _Index:
    """Directory users by id and by every name; an active entry wins over a deleted one with
    the same address (someone rehired under their old e-mail)."""

    def __init__(self, users: Sequence[DirectoryUser]) -> None:
        self.by_id: dict[str, DirectoryUser] = {}
        self.by_name: dict[str, DirectoryUser] = {}
        self.matched = 0
        rank = {Status.ACTIVE: 0, Status.DISABLED: 1, Status.DELETED: 2}
        for user in sorted(users, key=lambda u: rank[u.status], reverse=True):
            self.by_id[user.id] = user
            for name in user.names:
                self.by_name[_key(name)] = user

    def find(self, user: Member) -> DirectoryUser | None:
        """The directory entry of a Roster user: by externalId, login subject, userName, e-mail."""
        found = None
        if user.external_id:
            found = self.by_id.get(user.external_id)
        if found is None:
            for subject in user.subjects:
                found = self.by_id.get(subject) or self.by_name.get(_key(subject))
                if found is not None:
                    break
        if found is None:
            found = self.by_name.get(_key(user.user_name))
        if found is None:
            for email in user.emails:
                found = self.by_name.get(_key(email))
                if found is not None:
                    break
        if found is not None:
            self.matched += 1
        return found
