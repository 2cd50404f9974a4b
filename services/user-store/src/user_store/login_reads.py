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
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from user_store import tenants
from user_store.apply.logins import login_fill
from user_store.identity import name_key
from user_store.keys import READ_SESSIONS
from user_store.snapshots import load_user_snapshot
from user_store.tables import GroupRow, IdentityLinkRow, MembershipRow, UserRow
from user_store.token_reads import message_of

routes = web.RouteTableDef()


async def _linked_user(
    session: AsyncSession, tenant_id: str, issuer: str, subject: str
) -> UserRow | None:
    result = await session.execute(
        select(UserRow)
        .join(IdentityLinkRow, col(IdentityLinkRow.user_id) == col(UserRow.id))
        .where(
            IdentityLinkRow.tenant_id == tenant_id,
            IdentityLinkRow.issuer == issuer,
            IdentityLinkRow.subject == subject,
        )
    )
    return result.scalars().first()


async def _groups_settled(session: AsyncSession, user: UserRow, names: tuple[str, ...]) -> bool:
    """True when ``Groups._sync_login_groups`` would do nothing for these names: every named
    group exists, the user is in each login-made one of them, and in no login-made group the
    login does not name. (SCIM's groups are SCIM's: the login neither adds nor removes them.)"""
    wanted = {name_key(n) for n in names if n.strip()}
    named = (
        await session.execute(
            select(GroupRow.display_name_key, GroupRow.origin).where(
                GroupRow.tenant_id == user.tenant_id, col(GroupRow.display_name_key).in_(wanted)
            )
        )
    ).all()
    if len(named) != len(wanted):
        return False  # the write path would create a group
    member_of = (
        await session.execute(
            select(GroupRow.display_name_key)
            .join(MembershipRow, col(MembershipRow.group_id) == col(GroupRow.id))
            .where(MembershipRow.user_id == user.id, GroupRow.origin == "jit")
        )
    ).scalars()
    return set(member_of) == {key for key, origin in named if origin == "jit"}


async def returning_user(
    session: AsyncSession, ref: str, login: UserUpsertedData
) -> ReturningLogin:
    """The account ``login`` may proceed as without a write, or an empty answer."""
    link = login.identity_link
    if link is None:
        return ReturningLogin()
    tenant = tenants.tenant_info(await tenants.find_tenant_row(session, ref))
    user = await _linked_user(session, tenant.id, link.issuer, link.subject)
    if user is None or user.deleted_at is not None or not user.active:
        return ReturningLogin()  # new, deleted or deactivated: the write path decides
    fill = login_fill(
        user, login.attributes, own_link=True, scim_owns=tenant.mode.scim_owns_lifecycle
    )
    if any(getattr(user, name) != value for name, value in fill.items()):
        return ReturningLogin()
    syncs_groups = login.groups is not None and tenant.policy.jit_group_sync
    if syncs_groups and not await _groups_settled(session, user, login.groups or ()):
        return ReturningLogin()
    return ReturningLogin(user=await load_user_snapshot(session, user))


@routes.post("/internal/tenants/{ref}/logins/returning")
async def returning_login(request: web.Request) -> web.Response:
    """Whether this login is of a returning user whose account it would not change."""
    message = await message_of(request, ReturningLoginRead)
    async with request.app[READ_SESSIONS]() as session:
        answer = await returning_user(session, request.match_info["ref"], message.login)
    return web.Response(text=answer.model_dump_json(), content_type="application/json")
