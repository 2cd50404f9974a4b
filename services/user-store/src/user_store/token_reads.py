"""The scim-api's hot reads in one internal request: the token check, then the read
(``roster_shared.token_reads``).

The token is verified first, in the same session and by the same statement as
``tokens/verify``; a token that is not live for the tenant the path names (unknown, revoked,
another tenant's, malformed, or no such tenant) gets the same 401 ``invalid_token`` before
anything is read, so the answer never says whether the user exists. Only then is a 404 or a
400 about the read itself possible.

The handlers are thin: each parses its body and calls a function of the application
(:func:`verified`, :func:`user_of`, :func:`users_of`), which a caller in the same process
(``roster dev``) calls directly instead (:mod:`user_store.in_process`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from roster_shared.filters import UserPage
from roster_shared.ids import is_id
from roster_shared.tenants import TenantInfo
from roster_shared.token_reads import TokenUser, TokenUserRead, TokenUsers, TokenUsersRead
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from user_store import hot_reads, queries
from user_store.bodies import first_error, json_object
from user_store.errors import Invalid, NotFound, TokenRefused
from user_store.keys import CURSORS, LOOP_READS, READ_ENGINE, READ_SESSIONS
from user_store.loop_reads import OnDemand

routes = web.RouteTableDef()

M = TypeVar("M", bound=BaseModel)


async def message_of(request: web.Request, model: type[M]) -> M:
    if request.content_length is not None and request.content_length > 1_048_576:
        raise Invalid("request body too large")
    data: dict[str, Any] = json_object(await request.read())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(f"invalid {first_error(exc)}") from exc


async def verified(app: web.Application, ref: str, token: str) -> TenantInfo:
    """The tenant ``ref`` when ``token`` is one of its live SCIM tokens (``tokens/verify``);
    :class:`TokenRefused` otherwise. One prepared statement, no ORM session (the scim-api asks
    this before every write), on a pooled connection only when the loop's cannot answer it."""
    async with OnDemand(app[READ_ENGINE]) as connection:
        tenant = await hot_reads.verified_tenant(connection, ref, token, app[LOOP_READS])
    if tenant is None:
        raise TokenRefused("unknown, revoked or malformed token")
    return tenant


async def _verified(
    session: AsyncSession | AsyncConnection, app: web.Application, ref: str, token: str
) -> TenantInfo:
    tenant = await hot_reads.verified_tenant(session, ref, token, app[LOOP_READS])
    if tenant is None:
        raise TokenRefused("unknown, revoked or malformed token")
    return tenant


def _json(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(), content_type="application/json")


async def user_of(app: web.Application, ref: str, message: TokenUserRead) -> TokenUser:
    """One user of the tenant ``ref`` whose live token ``message`` carries: :class:`TokenRefused`
    before anything is read when the token is not live for it, then :class:`NotFound`."""
    # One statement on a bare connection: an ORM session around it costs more CPU than the
    # statement itself (about 0.4 ms per request, measured for tokens/verify).
    if not is_id(message.user_id):  # never reaches a query (user_store.path_params)
        await verified(app, ref, message.token)
        raise NotFound("no user with that id: it is not an id")
    async with OnDemand(app[READ_ENGINE]) as connection:
        found, user = await hot_reads.token_user(
            connection, ref, message.token, message.user_id, app[LOOP_READS]
        )
    if found is None:
        raise TokenRefused("unknown, revoked or malformed token")
    if user is None:
        raise NotFound(f"no user {message.user_id}")
    return TokenUser(tenant=found, user=user)


async def users_of(app: web.Application, ref: str, message: TokenUsersRead) -> TokenUsers:
    """A filtered, sorted page of the users of the tenant ``ref`` whose live token ``message``
    carries (:class:`TokenRefused` before anything is read when it is not live)."""
    query = message.query
    if hot_reads.is_user_name_lookup(query):
        async with OnDemand(app[READ_ENGINE]) as connection:
            found, users = await hot_reads.token_user_name(
                connection, ref, message.token, query, app[LOOP_READS]
            )
        if found is None:
            raise TokenRefused("unknown, revoked or malformed token")
        page = UserPage(total=len(users), start_index=1, items=tuple(users))
        return TokenUsers(tenant=found, page=page)
    async with app[READ_SESSIONS]() as session:
        tenant = await _verified(session, app, ref, message.token)
        total, items, cursor = await queries.list_users(
            session, tenant.id, query, cursors=app[CURSORS]
        )
    page = UserPage(
        total=total, start_index=query.start_index, items=tuple(items), next_cursor=cursor
    )
    return TokenUsers(tenant=tenant, page=page)


@routes.post("/internal/tenants/{ref}/token-reads/user")
async def token_user(request: web.Request) -> web.Response:
    """One user of the tenant whose live token the body carries."""
    message = await message_of(request, TokenUserRead)
    return _json(await user_of(request.app, request.match_info["ref"], message))


@routes.post("/internal/tenants/{ref}/token-reads/users")
async def token_users(request: web.Request) -> web.Response:
    """A filtered, sorted page of the users of the tenant whose live token the body carries."""
    message = await message_of(request, TokenUsersRead)
    return _json(await users_of(request.app, request.match_info["ref"], message))
