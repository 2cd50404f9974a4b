"""The tenant lease: exactly one reconciler instance runs a tenant at a time.

The lease lives in the user-store (``StateStore.acquire``), expires after ``ttl`` seconds and is
renewed by a heartbeat every third of it. An instance that fails to renew (another took the
tenant over after an expiry) marks the lease lost, and :meth:`Lease.confirm` — called right
before anything is published — refuses to act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from roster_shared.tenants import TenantInfo

from reconciler.errors import Busy
from reconciler.store import StateStore

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another instance took the tenant over (our lease expired): stop before publishing."""


class Lease:
    """A tenant lease this instance holds; ``lost`` is set once a renewal was refused."""

    def __init__(self, store: StateStore, tenant: TenantInfo, holder: str, ttl: float) -> None:
        self.store = store
        self.tenant = tenant
        self.holder = holder
        self.ttl = ttl
        self.lost = asyncio.Event()

    async def renew(self) -> bool:
        """Extend the lease; False if another instance holds it now."""
        ok, _ = await self.store.acquire(self.tenant.id, self.holder, self.ttl)
        return ok

    async def confirm(self) -> None:
        """Renew right before acting: an instance whose lease ran out must not act."""
        ok, holder = await self.store.acquire(self.tenant.id, self.holder, self.ttl)
        if not ok or self.lost.is_set():
            raise LeaseLost(f"the lease of tenant {self.tenant.slug!r} passed to {holder}")

    async def heartbeat(self) -> None:
        """Renew every third of the lease's life until a renewal is refused."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                ok = await self.renew()
            except Exception:  # a missed renewal is retried; expiry decides
                log.warning("lease renewal failed", exc_info=True)
                continue
            if not ok:
                self.lost.set()
                return


@contextlib.asynccontextmanager
async def hold(
    store: StateStore, tenant: TenantInfo, holder: str, ttl: float
) -> AsyncIterator[Lease]:
    """Take the tenant's lease for the block (:class:`Busy` if another instance has it),
    keep it renewed meanwhile, and release it afterwards unless it was lost."""
    acquired, current = await store.acquire(tenant.id, holder, ttl)
    if not acquired:
        raise Busy(f"tenant {tenant.slug!r} is being reconciled by {current}")
    lease = Lease(store, tenant, holder, ttl)
    task = asyncio.create_task(lease.heartbeat())
    try:
        yield lease
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not lease.lost.is_set():
            with contextlib.suppress(Exception):
                await store.release(tenant.id, holder)
