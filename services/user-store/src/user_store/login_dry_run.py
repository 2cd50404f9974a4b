"""A login's verdict without its effects, for sso-login's Test sign-in.

The preview sso-login could make on its own (the tenant's mode and the account with that
userName) misses refusals only the user-store's rules see: an identity link to another subject,
a verified key that points at a deactivated account, a link key the tenant does not trust. So
the dry run applies the very login event a real sign-in would publish, through the same
:class:`~user_store.apply.Applier` code path the consumer runs, inside a transaction that is
always rolled back: nothing is committed, no outbox row, no history row, no reply on the bus,
and sso-login issues no session. What it returns is the reply the real login would get, plus
the names of the attributes it would change.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError
from roster_shared.events import ingest
from roster_shared.events.envelope import Source, utcnow
from roster_shared.events.replies import Reply

from user_store.apply import Applier
from user_store.bodies import json_object
from user_store.errors import Invalid, UserStoreError
from user_store.keys import SESSIONS
from user_store.tenants import get_tenant

routes = web.RouteTableDef()


async def dry_run(request: web.Request, event: ingest.UserUpserted) -> dict[str, Any]:
    """The reply ``event`` would get, and what it would change; every write rolled back."""
    changed: list[str] = []
    async with request.app[SESSIONS]() as session:
        transaction = await session.begin()
        try:
            tenant = await get_tenant(session, event.tenant_id)
            # Safe mode (no fast path): each write is flushed, so a constraint the real
            # login would hit surfaces here too, as the same typed refusal.
            applier = Applier(session, tenant, utcnow())
            try:
                outcome = await applier.user_upserted(event)
                reply = outcome.reply
                for produced in outcome.events:
                    data = getattr(produced, "data", None)
                    changed += [n for n in getattr(data, "changed", ()) if n not in changed]
            except UserStoreError as error:
                reply = Reply(
                    request_id=event.event_id,
                    tenant_id=event.tenant_id,
                    error=error.to_reply_error(),
                )
        finally:
            await transaction.rollback()
    return {"reply": reply.model_dump(mode="json"), "changed": changed}


@routes.post("/internal/tenants/{tenant_id}/logins/dry-run")
async def login_dry_run(request: web.Request) -> web.Response:
    """A JIT login event (as sso-login would publish it) → ``{"reply", "changed"}``."""
    body = json_object(await request.read())
    try:
        event = ingest.UserUpserted.model_validate(body)
    except ValidationError as exc:
        raise Invalid(f"invalid login: {exc.errors()[0]['msg']}") from exc
    if event.source is not Source.JIT or event.data.identity_link is None:
        raise Invalid("a dry run is for logins: source jit with an identity link")
    if event.tenant_id != request.match_info["tenant_id"]:
        raise Invalid("the login's tenant_id is not the tenant of the path")
    return web.json_response(await dry_run(request, event))
