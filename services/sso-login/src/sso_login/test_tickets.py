"""Tickets that let a Test sign-in start: only the customer's admin may run one.

A Test sign-in (:mod:`sso_login.preview`) shows the person what their IdP sent, what the
mapping made of it, and the user-store's verdict with its reason ("an identity link to another
subject", "deactivated"). That is for the admin setting up SSO, not for every employee who can
sign in at the IdP — and each one costs the user-store a dry run. So ``?test=`` must carry a
ticket: sealed by sso-login for the ``test-ticket`` purpose, naming the tenant, expiring after
:data:`TTL`. The setup portal mints one through the admin API (``POST /sso/admin/tenants/
{tenant}/test-tickets``, admin credential) for a holder of a live setup link, right before it
sends the browser to the IdP; nobody else can make one. A ticket starts one Test sign-in
(claimed once in the user-store's replay store, as assertion ids are).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from roster_shared.events.envelope import utcnow

from sso_login.tokens import BadToken, Sealer

PURPOSE = "test-ticket"
TTL = 600.0
"""Seconds a ticket may start a Test sign-in: long enough to find one's IdP password."""


def issue(sealer: Sealer, tenant_id: str) -> str:
    """A ticket that starts a Test sign-in for ``tenant_id`` within :data:`TTL`."""
    return sealer.dumps(PURPOSE, {"tid": tenant_id}, max_age=TTL)


def refusal(sealer: Sealer, ticket: str, tenant_id: str) -> str | None:
    """Why ``ticket`` cannot start a Test sign-in for ``tenant_id``, or None if it can."""
    try:
        data = sealer.loads(PURPOSE, ticket)
    except BadToken as exc:
        return f"test ticket {exc}"
    if data.get("tid") != tenant_id:
        return "test ticket made for another tenant"
    return None


def claim(ticket: str) -> str:
    """What the replay store records for a used ticket (its digest: the ticket itself is a
    credential and is not stored)."""
    return "test-ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def claim_expires() -> datetime:
    """Until when a used ticket must be remembered: past it, the ticket has expired anyway."""
    return utcnow() + timedelta(seconds=TTL)
