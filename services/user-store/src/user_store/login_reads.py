"""A returning login answered from one read (``roster_shared.login_reads``).

sso-login asks, before it publishes a login's ``UserUpserted`` and waits for the reply, whether
the login would change nothing: its identity link (issuer + subject) already points at a live,
active account of the tenant, the attributes the login speaks for under the tenant's mode
(``apply.logins.login_fill``, the write path's own rule 6) are already what the account holds,
and its groups (when the tenant syncs them) are the account's login-made memberships already.
Then the answer is that account, and the login only records its last login. Anything else —
no link, a deleted or deactivated account, a changed attribute or group, a group that does not
exist yet — answers None, and the login takes the write path, where every identity rule is
applied (including the refusals). The read is made fresh on every login (nothing cached), so a
deactivation committed before the login is seen by it.
"""

from __future__ import annotations

from aiohttp import web
from roster_shared.events.ingest import UserUpsertedData
from roster_shared.login_reads import ReturningLogin, ReturningLoginRead

from user_store import hot_reads
from user_store.apply.login_groups import login_group_plan, wanted_groups
from user_store.apply.logins import login_fill
from user_store.errors import UnknownTenant
from user_store.keys import LOOP_READS, READ_ENGINE
from user_store.loop_reads import LoopReads, OnDemand
from user_store.token_reads import message_of

routes = web.RouteTableDef()


async def returning_user(
    session: hot_reads.Reader,
    ref: str,
    login: UserUpsertedData,
    loop: LoopReads | None = None,
) -> ReturningLogin:
    """The account ``login`` may proceed as without a write, or an empty answer. One statement
    (:func:`user_store.hot_reads.linked_account`) reads the tenant, the linked account with its
    links and groups, and the groups the login names; the decisions are the write path's own
    (``login_fill``, ``login_group_plan``)."""
    link = login.identity_link
    if link is None:
        return ReturningLogin()
    names = login.groups or ()
    found = await hot_reads.linked_account(
        session, ref, link.issuer, link.subject, list(wanted_groups(names)), loop
    )
    if found is None:
        raise UnknownTenant(f"no tenant {ref!r}")
    tenant, account = found.tenant, found.account
    if account is None or not account.row.active:
        return ReturningLogin()  # new, deleted or deactivated: the write path decides
    user = account.row
    fill = login_fill(
        user, login.attributes, own_link=True, scim_owns=tenant.mode.scim_owns_lifecycle
    )
    if any(getattr(user, name) != value for name, value in fill.items()):
        return ReturningLogin()
    if login.groups is not None and tenant.policy.jit_group_sync:
        plan = login_group_plan(names, existing=found.named, member_of=account.member_of)
        if not plan.settled:
            return ReturningLogin()  # the write path would create, join or leave a group
    return ReturningLogin(user=account.snapshot)


async def returning_of(
    app: web.Application, ref: str, message: ReturningLoginRead
) -> ReturningLogin:
    """:func:`returning_user` of the application (the HTTP handler's own). One statement, no ORM
    session around it (it would cost more CPU than the statement, as for tokens/verify), on a
    pooled connection only when the loop's cannot answer it."""
    async with OnDemand(app[READ_ENGINE]) as connection:
        return await returning_user(connection, ref, message.login, app[LOOP_READS])


@routes.post("/internal/tenants/{ref}/logins/returning")
async def returning_login(request: web.Request) -> web.Response:
    """Whether this login is of a returning user whose account it would not change."""
    message = await message_of(request, ReturningLoginRead)
    answer = await returning_of(request.app, request.match_info["ref"], message)
    return web.Response(text=answer.model_dump_json(), content_type="application/json")
