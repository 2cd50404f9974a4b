"""The schedule: every tick, run each tenant whose policy interval has passed since its last run.

Every instance ticks; the tenant lease decides which one runs a tenant, and the others skip it.
The last run's time is kept in the tenant's state document, so a restart or another instance
does not run a tenant early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from roster_shared.tenants import ProvisioningMode

from reconciler.errors import Busy
from reconciler.policy import tenant_policy
from reconciler.runs import Reconciler

log = logging.getLogger(__name__)


async def tick(reconciler: Reconciler) -> list[str]:
    """Run every tenant that is due; returns the run ids started."""
    started: list[str] = []
    for tenant in await reconciler.store.tenants():
        policy = tenant_policy(tenant.settings)
        if not policy.enabled or tenant.mode is ProvisioningMode.SCIM:
            continue
        state = await reconciler.store.state(tenant.id)
        last = state.get("last_run_at")
        now = reconciler.clock()
        if last and datetime.fromisoformat(last) + timedelta(minutes=policy.interval_minutes) > now:
            continue
        try:
            record = await reconciler.run(tenant.id, trigger="schedule")
        except Busy:
            continue
        except Exception:  # one tenant's trouble must not hold up the others
            log.exception("scheduled run failed", extra={"tenant": tenant.slug})
            continue
        started.append(record.id)
        log.info(
            "scheduled run",
            extra={"tenant": tenant.slug, "run": record.id, "status": record.status},
        )
    return started


async def run_schedule(reconciler: Reconciler, every: float) -> None:
    """Tick until cancelled; a failing tick is logged and the next one tries again."""
    await asyncio.sleep(min(every, 2.0))  # let the process finish starting (the user-store)
    while True:
        try:
            await tick(reconciler)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reconciler schedule tick failed")
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def scheduled(reconciler: Reconciler, every: float) -> AsyncIterator[asyncio.Task[None]]:
    """Run the schedule in the background while the block runs."""
    task = asyncio.create_task(run_schedule(reconciler, every))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
