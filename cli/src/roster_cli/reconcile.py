"""``roster tenant advise``, ``roster directory connect`` and ``roster reconcile``.

The advice is pure logic (``reconciler.advice``). Connecting a directory writes the tenant's
settings straight to the database, like the other ``tenant`` commands. A reconcile run is the
reconciler's own code: it reads through the user-store's internal API and publishes events that a
user-store applies. With ``--data`` (the embedded store) the command runs both, in this process,
for the length of the run.
"""

from __future__ import annotations

from typing import Any

from reconciler.advice import Requirements, advise
from reconciler.policy import ReconcilerPolicy, tenant_policy
from sqlmodel.ext.asyncio.session import AsyncSession
from user_store import tenants

from roster_cli.tenants import Outcome, in_transaction


async def advice(
    requirements: Requirements, *, url: str | None = None, tenant: str | None = None
) -> Outcome:
    """``roster tenant advise``: with ``tenant``, under that tenant's reconciler policy."""
    policy = ReconcilerPolicy()
    if tenant is not None and url is not None:

        async def work(session: AsyncSession) -> dict[str, Any]:
            return (await tenants.get_tenant(session, tenant)).settings

        policy = tenant_policy(await in_transaction(url, work))
    result = advise(requirements, policy)
    lines = [
        f"Recommended mode: {result.mode}"
        + ("" if result.meets_requirements else "  (does NOT meet every requirement: see below)"),
        "",
        "Worst-case delay between someone leaving and losing access:",
        f"  {result.worst_case_delay}",
        "",
        "Why:",
        *(f"  - {reason}" for reason in result.reasons),
        "",
        "What removes access: " + "; ".join(result.signals),
    ]
    if result.warnings:
        lines += ["", "Warnings:", *(f"  ! {warning}" for warning in result.warnings)]
    if result.next_steps:
        lines += ["", "Next steps:", *(f"  $ {step}" for step in result.next_steps)]
    return Outcome(result.model_dump(mode="json"), "\n".join(lines))
