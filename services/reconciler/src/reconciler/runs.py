"""One reconciler run for one tenant: look, decide, and publish — never write the database.

A run holds the tenant's lease (:mod:`reconciler.lease`, so exactly one instance runs a tenant at
a time), reads every user the reconciler looks after through the user-store's internal API, asks the
tenant's directory for a complete snapshot, and decides per user (:mod:`reconciler.rules`):
deactivate, reactivate, or report. It then publishes the ingestion events
(:mod:`reconciler.publishing`), unless:

* the snapshot is incomplete: any page failing aborts the run with no change;
* the mass-deactivation brake trips: the run is *held* until an admin approves it;
* it is a dry run: the record says what would happen.

Every run leaves a record (:mod:`reconciler.records`), stored by the user-store and readable
through the CLI and the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from roster_shared.bus.base import Bus
from roster_shared.bus.requests import Requester
from roster_shared.events.envelope import EnvelopeBase, new_id, utcnow
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

from reconciler import rules
from reconciler.credentials import CredentialError, Vault
from reconciler.directory import (
    DirectoryError,
    HttpClient,
    RetryPolicy,
    Snapshot,
    Status,
    connector,
)
from reconciler.errors import Conflict, NotFound
from reconciler.lease import Lease, LeaseLost, hold
from reconciler.matching import DirectoryIndex
from reconciler.policy import DirectoryConfig, tenant_directory, tenant_policy
from reconciler.publishing import Publisher, event_for, event_if_needed
from reconciler.records import Action, Member, RunRecord
from reconciler.store import StateStore

log = logging.getLogger(__name__)


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
        self.publisher = Publisher(
            bus,
            self.topics,
            chunk=publish_chunk,
            requester=requester,
            confirm_timeout=confirm_timeout,
        )
        self.on_record = on_record

    # -- entry points ----------------------------------------------------------------------

    async def run(
        self, tenant_ref: str, *, dry_run: bool = False, trigger: str = "demand"
    ) -> RunRecord:
        """Reconcile one tenant now; :class:`Busy` if another instance is running it."""
        tenant = await self.tenant(tenant_ref)
        async with hold(self.store, tenant, self.instance, self.lease_ttl) as lease:
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
                await self._reconcile(tenant, record, lease)
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
        async with hold(self.store, tenant, self.instance, self.lease_ttl) as lease:
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
                event = event_if_needed(tenant, record.id, user, action)
                if event is None:
                    action.outcome = "skipped: already " + (
                        "inactive" if not user.active else "active"
                    )
                    continue
                pairs.append((action, event))
            await self._publish(lease, pairs)
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

    async def tenant(self, ref: str) -> TenantInfo:
        """A tenant by id or slug; :class:`NotFound` if there is none."""
        try:
            return await self.users.tenant(ref)
        except UserStoreClientError as error:
            if error.status == 404:
                raise NotFound(f"no tenant {ref!r}") from error
            raise

    async def members(self, tenant_id: str) -> list[Member]:
        """Every user of the tenant, read page by page through the user-store's scan."""
        users: list[Member] = []
        cursor: str | None = None
        while True:
            page, cursor = await self.store.users(tenant_id, after=cursor, limit=self.page_size)
            users.extend(Member.of(item) for item in page)
            if cursor is None:
                return users

    async def snapshot(self, config: DirectoryConfig) -> Snapshot:
        """The tenant's directory, read completely (:class:`DirectoryError` otherwise)."""
        token = self.vault.decrypt(config.token)
        async with aiohttp.ClientSession() as session:
            return await connector(
                config.kind, config.url, token, HttpClient(session, self.retry)
            ).snapshot()

    # -- the run ---------------------------------------------------------------------------

    async def _reconcile(self, tenant: TenantInfo, record: RunRecord, lease: Lease) -> None:
        policy = tenant_policy(tenant.settings)
        record.policy = policy.model_dump(mode="json")
        if tenant.mode is ProvisioningMode.SCIM:
            record.status = "completed"
            record.notes.append("mode scim: SCIM owns every account's lifecycle; nothing to do")
            return
        users = await self.members(tenant.id)
        candidates = [u for u in users if rules.looked_after(tenant.mode, u)]
        active = [u for u in candidates if u.active]
        record.checked = {
            "users": len(users),
            "looked_after": len(candidates),
            "active": len(active),
        }
        if tenant.mode is ProvisioningMode.SCIM_JIT:
            record.notes.append("scim+jit: only users SCIM has not confirmed are looked after")
        config = tenant_directory(tenant.settings)
        index: DirectoryIndex | None = None
        state = await self.store.state(tenant.id)
        misses: dict[str, int] = dict(state.get("misses") or {})
        if config is not None:
            snapshot = await self.snapshot(config)
            index = DirectoryIndex(snapshot.users)
            record.directory = _directory_summary(config, snapshot)
        now = self.clock()
        new_misses: dict[str, int] = {}
        for user in candidates:
            decision = rules.decide(
                rules.Facts(
                    user=user,
                    mode=tenant.mode,
                    policy=policy,
                    now=now,
                    directory=config.kind if config is not None else None,
                    entry=index.find(user) if index is not None else None,
                    misses=misses.get(user.id, 0),
                )
            )
            if decision.misses:
                new_misses[user.id] = decision.misses
            action = decision.action
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
        deactivations = sum(1 for a in record.actions if a.action == "deactivate")
        brake = rules.brake(deactivations, len(active), policy)
        record.brake = brake.as_record()
        if record.dry_run:
            for action in record.actions:
                action.outcome = "would"
            record.status = "completed"
            record.notes.append(
                "dry run: nothing was changed"
                + ("; a real run would be held by the brake" if brake.tripped else "")
            )
            return
        if brake.tripped:
            for action in record.actions:
                action.outcome = "held"
            record.status = "held"
            record.notes.append(brake.note())
            return
        pairs = [(action, event_for(tenant, record.id, action)) for action in record.actions]
        await self._publish(lease, pairs)
        record.published = len(pairs)
        record.status = "completed"
        await self._remember(tenant.id, misses=new_misses)

    # -- helpers ---------------------------------------------------------------------------

    async def _publish(self, lease: Lease, pairs: Sequence[tuple[Action, EnvelopeBase]]) -> None:
        if not pairs:
            return
        await lease.confirm()
        await self.publisher.publish(pairs)

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


def _directory_summary(config: DirectoryConfig, snapshot: Snapshot) -> dict[str, Any]:
    """The run record's ``directory``: what was read, and how hard it was."""
    return {
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
