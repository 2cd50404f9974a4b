"""The SCIM use cases: reads through the user-store's internal API, writes as ingestion events.

Nothing here knows HTTP. Writes publish an ingestion event and wait for the user-store's reply
(the only writer), whose typed error becomes the SCIM error it means. PATCH is a
read-modify-write on the snapshot, sent with the version it read; a concurrent change makes the
user-store refuse it, and it is tried again on the new state unless the client itself named a
version with ``If-Match`` (then the client is told: 412).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import aiohttp
from pydantic import ValidationError
from roster_shared.bus.ingest import IngestClient, IngestUnavailable
from roster_shared.bus.requests import Requester
from roster_shared.events import ingest
from roster_shared.events.envelope import EnvelopeBase, Source
from roster_shared.events.people import GroupSnapshot, UserAttributes, UserSnapshot
from roster_shared.events.replies import ErrorCode, Reply
from roster_shared.filters import Compare, GroupPage, ListQuery, UserPage
from roster_shared.ids import is_id
from roster_shared.tenants import TenantInfo
from roster_shared.token_reads import TokenUser, TokenUsers
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError

from scim_api.auth import refused
from scim_api.errors import (
    Forbidden,
    InvalidCursor,
    InvalidFilter,
    InvalidValue,
    NotFound,
    PreconditionFailed,
    ScimError,
    Unavailable,
    Uniqueness,
    from_contract,
    from_user_store,
)
from scim_api.messages import patch
from scim_api.messages.filter import parse_patch_path
from scim_api.resources import (
    group_fields,
    group_resource,
    user_attributes,
    user_resource,
)
from scim_api.resources.schemas import group_schema, user_schema

PATCH_ATTEMPTS = 8

P = ParamSpec("P")
R = TypeVar("R")


def client_values(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A write whose event the shared contract refuses is the client's 400 ``invalidValue``,
    raised before anything is published (the event is built from the client's values)."""

    @functools.wraps(method)
    async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except ValidationError as exc:
            raise from_contract(exc) from exc

    return checked


def addressable(what: str, resource_id: str) -> str:
    """``resource_id`` if it has the form the user-store mints ids in; else SCIM 404.

    An id of another form names no resource of any tenant, so it is answered as an unknown id
    is (RFC 7644 §3.12: 404, no ``scimType``) and goes no further: not to the user-store's read
    API (where it would become part of a URL), not into an ingestion event. The detail does not
    echo it back: it came from the client and may be anything.
    """
    if not is_id(resource_id):
        raise NotFound(f"{what} not found: the id is not one this endpoint issues")
    return resource_id


@dataclass(frozen=True)
class Call:
    """Who is asking: the authenticated tenant, its SCIM base URL, the request's id."""

    tenant: TenantInfo
    base: str
    correlation_id: str


class ScimService:
    """Users and Groups of one SCIM endpoint."""

    def __init__(
        self,
        user_store: UserStoreClient,
        requester: Requester,
        topics: Topics,
        *,
        timeout: float,
    ) -> None:
        self.user_store = user_store
        self.requester = requester
        self.topics = topics
        self.timeout = timeout

    # -- plumbing ------------------------------------------------------------------------

    async def _send(self, event: EnvelopeBase) -> Reply:
        try:
            reply = await IngestClient(self.requester, self.topics.ingest, self.timeout).submit(
                event
            )
        except IngestUnavailable as exc:
            raise Unavailable(
                "the user store did not confirm the change in time; it may still apply. "
                "Read the resource before retrying"
            ) from exc
        if reply.error is None:
            return reply
        error = reply.error
        kinds: dict[ErrorCode, type[ScimError]] = {
            ErrorCode.UNIQUENESS: Uniqueness,
            ErrorCode.NOT_FOUND: NotFound,
            ErrorCode.UNKNOWN_TENANT: NotFound,
            ErrorCode.PRECONDITION_FAILED: PreconditionFailed,
            ErrorCode.REFUSED: Forbidden,
        }
        raise kinds.get(error.code, InvalidValue)(error.detail)

    async def _read(self, what: str, call: Any) -> Any:
        try:
            return await call
        except UserStoreClientError as exc:
            if exc.status == 404:
                raise NotFound(f"{what} not found") from exc
            if exc.status == 400:
                # The internal API's typed codes; anything else it refuses is a value of ours that
                # it does not take (e.g. sorting by an attribute it cannot sort by).
                kind = {"invalid_cursor": InvalidCursor, "invalid_filter": InvalidFilter}
                raise kind.get(exc.code, InvalidValue)(exc.detail) from exc
            raise from_user_store(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise from_user_store(exc) from exc

    def _envelope(self, call: Call) -> dict[str, Any]:
        return {
            "tenant_id": call.tenant.id,
            "source": Source.SCIM,
            "correlation_id": call.correlation_id,
        }

    # -- users ---------------------------------------------------------------------------

    async def user(self, call: Call, user_id: str) -> UserSnapshot:
        """One user; another tenant's id is not found."""
        addressable("user", user_id)
        snapshot: UserSnapshot = await self._read(
            f"user {user_id}", self.user_store.user(call.tenant.id, user_id)
        )
        return snapshot

    async def token_user(self, ref: str, token: str, user_id: str) -> TokenUser:
        """One user, read as the holder of ``token`` in one internal request: 401 when the
        token is not live for the tenant (checked before the read), 404 when there is no such
        user. ``user_id`` must already have the id form (:func:`addressable`)."""
        read: TokenUser | None = await self._read(
            f"user {user_id}", self.user_store.token_user(ref, token, user_id)
        )
        if read is None:
            raise refused()
        return read

    async def token_users(self, ref: str, token: str, query: ListQuery) -> TokenUsers:
        """A page of users, read as the holder of ``token`` in one internal request."""
        read: TokenUsers | None = await self._read(
            "users", self.user_store.token_users(ref, token, query)
        )
        if read is None:
            raise refused()
        return read

    async def users(self, call: Call, query: ListQuery) -> UserPage:
        """A page of users."""
        page: UserPage = await self._read("users", self.user_store.users(call.tenant.id, query))
        return page

    @client_values
    async def upsert_user(
        self,
        call: Call,
        attributes: UserAttributes,
        *,
        target_id: str | None = None,
        expected_version: int | None = None,
    ) -> Reply:
        """POST (``target_id`` None: create or adopt) or PUT (replace)."""
        if target_id is not None:
            addressable("user", target_id)
        event = ingest.UserUpserted(
            **self._envelope(call),
            data=ingest.UserUpsertedData(
                attributes=attributes, target_id=target_id, expected_version=expected_version
            ),
        )
        return await self._send(event)

    @client_values
    async def patch_user(
        self, call: Call, user_id: str, body: Any, if_match: int | None
    ) -> UserSnapshot:
        """PATCH: apply the operations to the current user, write it back at that version."""
        addressable("user", user_id)
        ops = patch.operations(body)
        for attempt in range(PATCH_ATTEMPTS):
            current = await self.user(call, user_id)
            if if_match is not None and current.version != if_match:
                raise PreconditionFailed(f"user {user_id} is at version {current.version}")
            before = user_resource(current, call.base)
            after = patch.apply(user_schema(), before, ops)
            if after == before:
                return current
            try:
                reply = await self.upsert_user(
                    call,
                    user_attributes(after),
                    target_id=user_id,
                    expected_version=current.version,
                )
            except PreconditionFailed:
                if if_match is not None or attempt == PATCH_ATTEMPTS - 1:
                    raise
                continue
            assert reply.user is not None
            return reply.user
        raise PreconditionFailed(f"user {user_id} kept changing")  # pragma: no cover

    @client_values
    async def delete_user(self, call: Call, user_id: str, if_match: int | None) -> None:
        """DELETE: the user is gone for SCIM (kept, deleted, so a login cannot revive it)."""
        addressable("user", user_id)
        await self._send(
            ingest.UserDeleted(
                **self._envelope(call),
                data=ingest.UserRef(
                    user_id=user_id, reason="deleted by SCIM", expected_version=if_match
                ),
            )
        )

    # -- groups --------------------------------------------------------------------------

    async def group(self, call: Call, group_id: str, *, members: bool = True) -> GroupSnapshot:
        """One group."""
        addressable("group", group_id)
        snapshot: GroupSnapshot = await self._read(
            f"group {group_id}", self.user_store.group(call.tenant.id, group_id, members=members)
        )
        return snapshot

    async def groups(self, call: Call, query: ListQuery, *, members: bool = True) -> GroupPage:
        """A page of groups."""
        page: GroupPage = await self._read(
            "groups", self.user_store.groups(call.tenant.id, query, members=members)
        )
        return page

    @client_values
    async def upsert_group(
        self,
        call: Call,
        resource: dict[str, Any],
        *,
        target_id: str | None = None,
        expected_version: int | None = None,
    ) -> Reply:
        """POST or PUT (members replaced when the body has ``members``; PUT without them
        clears them, as a full replace must)."""
        if target_id is not None:
            addressable("group", target_id)
        name, external_id, members, extra = group_fields(resource)
        if target_id is not None and members is None:
            members = []
        event = ingest.GroupUpserted(
            **self._envelope(call),
            data=ingest.GroupUpsertedData(
                display_name=name,
                external_id=external_id,
                target_id=target_id,
                expected_version=expected_version,
                member_ids=tuple(members) if members is not None else None,
                extra=extra,
            ),
        )
        return await self._send(event)

    @client_values
    async def patch_group(
        self, call: Call, group_id: str, body: Any, if_match: int | None
    ) -> GroupSnapshot:
        """PATCH a group. Pure member additions and removals by id are sent as such, without a
        version, so concurrent membership PATCHes from an IdP never conflict; anything else is
        a read-modify-write."""
        addressable("group", group_id)
        ops = patch.operations(body)
        if not ops:
            return await self.group(call, group_id)
        direct = _direct_membership(ops) if if_match is None else None
        if direct is not None:
            add, remove = direct
            reply = await self._send(
                ingest.GroupMembersChanged(
                    **self._envelope(call),
                    data=ingest.GroupMembersChangedData(
                        group_id=group_id, add=tuple(add), remove=tuple(remove)
                    ),
                )
            )
            assert reply.group is not None
            return reply.group
        for attempt in range(PATCH_ATTEMPTS):
            current = await self.group(call, group_id)
            if if_match is not None and current.version != if_match:
                raise PreconditionFailed(f"group {group_id} is at version {current.version}")
            before = group_resource(current, call.base)
            after = patch.apply(group_schema(), before, ops)
            name, external_id, members, extra = group_fields(after)
            _, old_external_id, old_members, old_extra = group_fields(before)
            if after == before:
                return current
            try:
                if external_id != old_external_id or extra != old_extra:
                    reply = await self.upsert_group(
                        call, after, target_id=group_id, expected_version=current.version
                    )
                else:
                    new = members or []
                    old = old_members or []
                    reply = await self._send(
                        ingest.GroupMembersChanged(
                            **self._envelope(call),
                            data=ingest.GroupMembersChangedData(
                                group_id=group_id,
                                add=tuple(m for m in new if m not in set(old)),
                                remove=tuple(m for m in old if m not in set(new)),
                                display_name=name if name != current.display_name else None,
                                expected_version=current.version,
                            ),
                        )
                    )
            except PreconditionFailed:
                if if_match is not None or attempt == PATCH_ATTEMPTS - 1:
                    raise
                continue
            assert reply.group is not None
            return reply.group
        raise PreconditionFailed(f"group {group_id} kept changing")  # pragma: no cover

    @client_values
    async def delete_group(self, call: Call, group_id: str, if_match: int | None) -> None:
        """DELETE a group and its memberships."""
        addressable("group", group_id)
        await self._send(
            ingest.GroupDeleted(
                **self._envelope(call),
                data=ingest.GroupRef(group_id=group_id, expected_version=if_match),
            )
        )


def _member_values(value: Any) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        member = item.get("value") if isinstance(item, dict) else item
        if not isinstance(member, str) or not member:
            return None
        if isinstance(item, dict) and str(item.get("type") or "User").lower() not in (
            "user",
            "group",
        ):
            return None
        out.append(member)
    return out


def _direct_membership(ops: list[dict[str, Any]]) -> tuple[list[str], list[str]] | None:
    """``(add, remove)`` when every operation adds or removes members by id, else None."""
    add: dict[str, None] = {}
    remove: dict[str, None] = {}
    for op in ops:
        path = op.get("path")
        if not isinstance(path, str) or op["op"] not in ("add", "remove"):
            return None
        parsed = parse_patch_path(group_schema(), path)
        if parsed.target.attr.name != "members" or parsed.sub is not None:
            return None
        if parsed.target.sub is not None:
            return None
        if parsed.where is None:
            if "value" not in op or op["value"] is None:
                return None  # remove every member: needs the current members
            ids = _member_values(op["value"])
            if not ids:
                return None
        else:
            if op["op"] != "remove":
                return None
            where = parsed.where
            if not (isinstance(where, Compare) and where.attr == "value" and where.op == "eq"):
                return None
            if not isinstance(where.value, str):
                return None
            ids = [where.value]
        for member in ids:
            if not is_id(member):
                if op["op"] == "add":
                    return None  # the read-modify-write finds the group, then refuses the value
                continue  # a value that cannot be an id is no member: removing it changes nothing
            if op["op"] == "add":
                add[member] = None
                remove.pop(member, None)
            else:
                remove[member] = None
                add.pop(member, None)
    return list(add), list(remove)
