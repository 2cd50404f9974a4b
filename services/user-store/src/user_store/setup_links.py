"""Setup links: a customer's IT admin sets up SSO and SCIM for one tenant with a link alone.

A link looks like ``rsl_<link id>_<secret>`` and is as strong as a SCIM token (256 random bits):
whoever holds it may connect the tenant's IdP and mint SCIM tokens, within the parts it was made
for (``sso``, ``scim``, ``directory``) and until it expires or is revoked. Only the SHA-256 of the
secret is stored (a slow hash adds nothing to 256 random bits); the id finds the one row to
compare in constant time. The console makes links through the admin API and opens them through
the internal API; it never holds more than the link the customer brought.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from roster_shared.events.envelope import utcnow
from roster_shared.tenants import TenantInfo
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.bodies import first_error, json_object
from user_store.db import as_utc
from user_store.errors import Invalid, NotFound, UserStoreError
from user_store.keys import SESSIONS
from user_store.tables import metadata
from user_store.tenants import find_tenant_row, tenant_info

LINK = re.compile(r"^rsl_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})$")
Part = Literal["sso", "scim", "directory"]
MAX_LIFETIME_HOURS = 30 * 24
"""A link is a credential in an e-mail: it should not outlive the setup it was sent for."""

setup_links = sa.Table(
    "setup_links",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("parts", sa.JSON, nullable=False),
    sa.Column("label", sa.String(256), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


class LinkRequest(BaseModel):
    """What an operator asks for: which parts, for how long."""

    parts: tuple[Part, ...] = Field(default=("sso", "scim"), min_length=1)
    expires_in_hours: int = Field(default=72, ge=1, le=MAX_LIFETIME_HOURS)
    label: str | None = Field(default=None, max_length=256)


class LinkInfo(BaseModel):
    """A link as listed (never its secret)."""

    id: str
    tenant_id: str
    parts: tuple[str, ...]
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class IssuedLink(LinkInfo):
    """A new link: the only time its secret is shown."""

    token: str


class OpenedLink(BaseModel):
    """A live link and its tenant (what the setup portal may act on)."""

    link: LinkInfo
    tenant: TenantInfo


class LinkGone(UserStoreError):
    """The link was real but is expired or revoked: the customer asks for a new one."""

    status = 410
    http_error = "link_gone"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: Any) -> LinkInfo:
    return LinkInfo(
        id=row.id,
        tenant_id=row.tenant_id,
        parts=tuple(row.parts),
        label=row.label,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at is not None else None,
    )


async def create_link(session: AsyncSession, ref: str, request: LinkRequest) -> IssuedLink:
    """A new setup link for the tenant."""
    tenant = await find_tenant_row(session, ref)
    link_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    values = {
        "id": link_id,
        "tenant_id": tenant.id,
        "secret_sha256": _digest(secret),
        "parts": sorted(set(request.parts)),
        "label": request.label,
        "created_at": now,
        "expires_at": now + timedelta(hours=request.expires_in_hours),
        "revoked_at": None,
    }
    await session.execute(setup_links.insert().values(**values))
    return IssuedLink(**_info(_Obj(values)).model_dump(), token=f"rsl_{link_id}_{secret}")


class _Obj:
    """Attribute access over a dict (a row we just inserted)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


async def list_links(session: AsyncSession, ref: str) -> list[LinkInfo]:
    """The tenant's links, newest first, without secrets."""
    tenant = await find_tenant_row(session, ref)
    rows = await session.execute(
        sa.select(setup_links)
        .where(setup_links.c.tenant_id == tenant.id)
        .order_by(setup_links.c.created_at.desc())
    )
    return [_info(row) for row in rows]


async def revoke_link(session: AsyncSession, ref: str, link_id: str) -> LinkInfo:
    """Revoke one link of the tenant at once (opening reads the database every time)."""
    tenant = await find_tenant_row(session, ref)
    row = (await session.execute(sa.select(setup_links).where(setup_links.c.id == link_id))).first()
    if row is None or row.tenant_id != tenant.id:
        raise NotFound(f"tenant {tenant.slug!r} has no setup link {link_id!r}")
    if row.revoked_at is None:
        await session.execute(
            setup_links.update().where(setup_links.c.id == link_id).values(revoked_at=utcnow())
        )
        row = (
            await session.execute(sa.select(setup_links).where(setup_links.c.id == link_id))
        ).one()
    return _info(row)


async def open_link(session: AsyncSession, token: str) -> OpenedLink:
    """The live link ``token`` is, with its tenant; :class:`NotFound` for anything not a link
    (never saying which part was wrong), :class:`LinkGone` for an expired or revoked one."""
    match = LINK.match(token)
    row = (
        (
            await session.execute(sa.select(setup_links).where(setup_links.c.id == match.group(1)))
        ).first()
        if match
        else None
    )
    # Compare even when something is missing, so timing does not tell which part was wrong.
    expected = row.secret_sha256 if row is not None else _digest("absent")
    given = _digest(match.group(2)) if match else _digest("malformed")
    if not hmac.compare_digest(expected, given) or row is None:
        raise NotFound("this setup link is not valid: check that it was copied whole")
    if row.revoked_at is not None:
        raise LinkGone("this setup link was revoked: ask your contact for a new one")
    if as_utc(row.expires_at) <= utcnow():
        raise LinkGone("this setup link has expired: ask your contact for a new one")
    tenant = await find_tenant_row(session, row.tenant_id)
    return OpenedLink(link=_info(row), tenant=tenant_info(tenant))


# -- HTTP: admin (make, list, revoke) and internal (open) -----------------------------------

routes = web.RouteTableDef()


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > 65536:
        raise Invalid("request body too large")
    return json_object(await request.read()) if request.can_read_body else {}


@routes.post("/admin/tenants/{ref}/setup-links")
async def link_create(request: web.Request) -> web.Response:
    """A new setup link: ``{"parts": ["sso","scim"], "expires_in_hours": 72, "label"?}``; the
    response is the only place its secret appears."""
    try:
        wanted = LinkRequest.model_validate(await _body(request))
    except ValidationError as exc:
        raise Invalid(first_error(exc)) from exc
    async with request.app[SESSIONS]() as session, session.begin():
        issued = await create_link(session, request.match_info["ref"], wanted)
    return web.Response(text=issued.model_dump_json(), status=201, content_type="application/json")


@routes.get("/admin/tenants/{ref}/setup-links")
async def link_list(request: web.Request) -> web.Response:
    """The tenant's setup links (never their secrets)."""
    async with request.app[SESSIONS]() as session:
        links = await list_links(session, request.match_info["ref"])
    return web.json_response({"links": [link.model_dump(mode="json") for link in links]})


@routes.delete("/admin/tenants/{ref}/setup-links/{link_id}")
async def link_revoke(request: web.Request) -> web.Response:
    """Revoke a setup link."""
    async with request.app[SESSIONS]() as session, session.begin():
        info = await revoke_link(session, request.match_info["ref"], request.match_info["link_id"])
    return web.Response(text=info.model_dump_json(), content_type="application/json")


@routes.post("/internal/setup-links/open")
async def link_open(request: web.Request) -> web.Response:
    """``{"token"}`` → the live link and its tenant; 404 not a link, 410 expired or revoked.
    POST, so that the link never sits in an access log's URL."""
    token = (await _body(request)).get("token")
    if not isinstance(token, str) or len(token) > 256:
        raise NotFound("this setup link is not valid: check that it was copied whole")
    async with request.app[SESSIONS]() as session:
        opened = await open_link(session, token)
    return web.Response(text=opened.model_dump_json(), content_type="application/json")
