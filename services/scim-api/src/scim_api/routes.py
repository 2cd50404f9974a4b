"""Thin HTTP handlers of the SCIM endpoint (RFC 7644 §3). Paths are relative to ``/scim``."""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any

from aiohttp import web
from roster_shared import bounded_json
from roster_shared.filters import MAX_CURSOR_LENGTH, MAX_START_INDEX, ListQuery
from roster_shared.ids import is_tenant_ref

from scim_api import bulk, discovery
from scim_api.auth import authenticate
from scim_api.errors import (
    SCIM_JSON,
    InvalidCursor,
    InvalidSyntax,
    InvalidValue,
    InvalidVersion,
    MethodNotAllowed,
    NotFound,
    NotImplementedYet,
    PayloadTooLarge,
    PreconditionFailed,
    Unauthorized,
    UnsupportedMediaType,
)
from scim_api.keys import PUBLIC_BASE, SERVICE, USER_STORE
from scim_api.paths import parse_filter, resolve
from scim_api.resources import (
    etag,
    group_resource,
    normalise,
    project,
    user_attributes,
    user_resource,
)
from scim_api.schemas import (
    LIST_RESPONSE,
    SEARCH_REQUEST,
    ResourceSchema,
    group_schema,
    user_schema,
)
from scim_api.service import Call, ScimService

routes = web.RouteTableDef()

MAX_BODY = discovery.MAX_PAYLOAD
MAX_RESULTS = discovery.MAX_RESULTS
DEFAULT_COUNT = discovery.DEFAULT_COUNT


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(data), content_type=SCIM_JSON, headers=headers
    )


async def _call(request: web.Request) -> Call:
    tenant = request.match_info["tenant"]
    if not is_tenant_ref(tenant):
        # Names no tenant, so the answer an unknown tenant gets (auth.py), without asking.
        raise Unauthorized("the bearer token is not valid for this tenant")
    info = await authenticate(request.app[USER_STORE], tenant, request.headers.get("Authorization"))
    # From settings, never from Host or X-Forwarded-*: a client must not choose the URLs that
    # IdPs and logs will follow. The tenant ref is one the token was just verified for.
    base = f"{request.app[PUBLIC_BASE]}/v2/{tenant}"
    return Call(info, base, request.headers.get("X-Request-Id") or str(uuid.uuid4()))


def _service(request: web.Request) -> ScimService:
    return request.app[SERVICE]


def _methods(request: web.Request, *allowed: str) -> None:
    if request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
        raise MethodNotAllowed(f"{request.method} is not allowed on {request.path}", allowed)


async def _body(request: web.Request) -> Any:
    """The request's JSON; 413 over the limit, 415 when not JSON, 400 when malformed."""
    content_type = request.headers.get("Content-Type")
    if content_type is not None:
        main = content_type.split(";", 1)[0].strip().lower()
        if main and "json" not in main and main != "application/octet-stream":
            raise UnsupportedMediaType(
                f"send application/scim+json or application/json, not {main}"
            )
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
    try:
        raw = await request.content.read(MAX_BODY + 1)
    except ValueError as exc:  # pragma: no cover - aiohttp reports payload errors this way
        raise InvalidSyntax("the body could not be read") from exc
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
    try:
        return bounded_json.loads(raw)
    except bounded_json.TooDeep as exc:
        raise InvalidSyntax(f"the body is not a SCIM message: {exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSyntax(f"the body is not valid JSON: {exc}") from exc


async def _object(request: web.Request) -> dict[str, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise InvalidSyntax("the body must be a JSON object")
    return body


def _version(value: str) -> int | None:
    """Our ETag's version, or None for ``*``; 412 for an ETag that cannot be ours."""
    text = value.strip()
    if text == "*":
        return None
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    # ASCII digits only (str.isdigit takes '²', which int() refuses), and no more than a
    # version can have: anything else cannot be one of our ETags.
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise PreconditionFailed(f"{value[:40]!r} is not a version of this resource")
    return int(text)


def _if_match(request: web.Request) -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    versions = [_version(v) for v in header.split(",")]
    if None in versions:
        return None
    if len(versions) != 1:
        raise InvalidVersion("If-Match must name one version")
    return versions[0]


def _not_modified(request: web.Request, version: int) -> bool:
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    for value in header.split(","):
        text = value.strip()
        if text == "*":
            return True
        try:
            if _version(text) == version:
                return True
        except PreconditionFailed:
            continue
    return False


def _names(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise InvalidValue(f"{what} must be a comma-separated list of attribute names")
    names = [v.strip() for v in items if v.strip()]
    return names or None


HUGE = 10**20
"""Stands for any integer past what a page could reach: it is clamped like one."""


def _int(value: Any, what: str) -> int | None:
    """An integer query parameter (RFC 7644 §3.4.2.4), from a query string or a ``.search``
    body. A value too large to matter comes back as :data:`HUGE`, for the caller to clamp;
    only what is not a number at all is a 400."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValue(f"{what} must be an integer")
    if isinstance(value, int):
        return max(min(value, HUGE), -HUGE)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?[0-9]+", text):
            # int() of more than 4300 digits raises; no count or index needs more than 20.
            digits = text.lstrip("+-").lstrip("0") or "0"
            sign = -1 if text.startswith("-") else 1
            return sign * (int(digits) if len(digits) <= 20 else HUGE)
        try:
            value = float(text)
        except ValueError:
            raise InvalidValue(f"{what} must be an integer, not {value[:40]!r}") from None
    if not math.isfinite(value):
        raise InvalidValue(f"{what} must be a finite integer, not {value!r}")
    return max(min(int(value), HUGE), -HUGE)


class Listing:
    """The parameters of a list or ``.search`` request (RFC 7644 §3.4.2, §3.4.3, RFC 9865)."""

    def __init__(self, schema: ResourceSchema, params: dict[str, Any]) -> None:
        lowered = {k.lower(): v for k, v in params.items()}
        text = lowered.get("filter")
        if text is not None and not isinstance(text, str):
            raise InvalidValue("filter must be a string")
        filter_ = parse_filter(schema, text) if text is not None else None
        # RFC 7644 §3.4.2.4: startIndex below 1 is 1, a negative count is 0, and a count above
        # maxResults is lowered to it. An index past any page is clamped as well: the page is
        # empty either way, and no database integer overflows on it.
        start = _int(lowered.get("startindex"), "startIndex") or 1
        start = min(max(start, 1), MAX_START_INDEX)
        count = _int(lowered.get("count"), "count")
        count = DEFAULT_COUNT if count is None else min(max(count, 0), MAX_RESULTS)
        sort_by = lowered.get("sortby")
        if sort_by is not None:
            if not isinstance(sort_by, str):
                raise InvalidValue("sortBy must be an attribute name")
            sort_by = resolve(schema, sort_by, InvalidValue).name
        order = lowered.get("sortorder")
        if order is not None and (
            not isinstance(order, str) or order.lower() not in ("ascending", "descending")
        ):
            raise InvalidValue("sortOrder must be ascending or descending")
        cursor = lowered.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise InvalidValue("cursor must be a string")
        if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("the cursor is longer than any this endpoint issues")
        self.cursor_paging = cursor is not None
        self.query = ListQuery(
            filter=filter_,
            sort_by=sort_by,
            descending=bool(order and order.lower() == "descending"),
            start_index=start,
            count=count,
            cursor=cursor or None,
        )
        self.attributes = _names(lowered.get("attributes"), "attributes")
        self.excluded = _names(lowered.get("excludedattributes"), "excludedAttributes")


def _list_response(
    listing: Listing, total: int, resources: list[dict[str, Any]], next_cursor: str | None
) -> web.Response:
    body: dict[str, Any] = {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
    }
    if listing.cursor_paging:
        if next_cursor and len(resources) == listing.query.count:
            body["nextCursor"] = next_cursor
    else:
        body["startIndex"] = listing.query.start_index
    body["Resources"] = resources
    return _json(body)


# -- Users ---------------------------------------------------------------------------------


async def _list_users(request: web.Request, call: Call, listing: Listing) -> web.Response:
    page = await _service(request).users(call, listing.query)
    schema = user_schema()
    resources = [
        project(schema, user_resource(u, call.base), listing.attributes, listing.excluded)
        for u in page.items
    ]
    return _list_response(listing, page.total, resources, page.next_cursor)


@routes.route("*", "/v2/{tenant}/Users")
async def users(request: web.Request) -> web.Response:
    """GET: list and filter users. POST: create (or adopt a JIT user: docs/design.md, rule 3)."""
    call = await _call(request)
    _methods(request, "GET", "POST")
    if request.method == "POST":
        body = await _object(request)
        attributes = user_attributes(normalise(user_schema(), body))
        reply = await _service(request).upsert_user(call, attributes)
        assert reply.user is not None
        resource = user_resource(reply.user, call.base)
        return _json(
            resource,
            status=201,
            headers={"Location": resource["meta"]["location"], "ETag": etag(reply.user.version)},
        )
    return await _list_users(request, call, Listing(user_schema(), dict(request.query)))


@routes.route("*", "/v2/{tenant}/Users/.search")
async def users_search(request: web.Request) -> web.Response:
    """POST ``.search`` (RFC 7644 §3.4.3): the query in the body."""
    call = await _call(request)
    _methods(request, "POST")
    return await _list_users(
        request, call, Listing(user_schema(), _search_params(await _object(request)))
    )


def _search_params(body: dict[str, Any]) -> dict[str, Any]:
    schemas = body.get("schemas")
    if schemas is not None and SEARCH_REQUEST not in schemas:
        raise InvalidSyntax(f"schemas must be [{SEARCH_REQUEST!r}]")
    return {k: v for k, v in body.items() if k != "schemas"}


@routes.route("*", "/v2/{tenant}/Users/{id}")
async def user(request: web.Request) -> web.Response:
    """GET, PUT (full replace), PATCH and DELETE one user."""
    call = await _call(request)
    _methods(request, "GET", "PUT", "PATCH", "DELETE")
    service = _service(request)
    user_id = request.match_info["id"]
    schema = user_schema()
    if request.method in ("GET", "HEAD"):
        snapshot = await service.user(call, user_id)
        if _not_modified(request, snapshot.version):
            return web.Response(status=304, headers={"ETag": etag(snapshot.version)})
        resource = user_resource(snapshot, call.base)
    elif request.method == "DELETE":
        await service.delete_user(call, user_id, _if_match(request))
        return web.Response(status=204)
    elif request.method == "PUT":
        replacement = user_attributes(normalise(schema, await _object(request)))
        reply = await service.upsert_user(
            call, replacement, target_id=user_id, expected_version=_if_match(request)
        )
        assert reply.user is not None
        snapshot = reply.user
        resource = user_resource(snapshot, call.base)
    else:
        snapshot = await service.patch_user(call, user_id, await _body(request), _if_match(request))
        resource = user_resource(snapshot, call.base)
    attributes, excluded = _shaping(request)
    return _json(
        project(schema, resource, attributes, excluded), headers={"ETag": etag(snapshot.version)}
    )


def _shaping(request: web.Request) -> tuple[list[str] | None, list[str] | None]:
    return (
        _names(request.query.get("attributes"), "attributes"),
        _names(request.query.get("excludedAttributes"), "excludedAttributes"),
    )


# -- Groups --------------------------------------------------------------------------------


def _members_wanted(attributes: list[str] | None, excluded: list[str] | None) -> bool:
    lowered = {a.lower() for a in attributes or ()}
    if attributes and not any(a.split(".")[0].endswith("members") for a in lowered):
        return False
    return not any(a.lower().endswith("members") for a in excluded or ())


async def _list_groups(request: web.Request, call: Call, listing: Listing) -> web.Response:
    members = _members_wanted(listing.attributes, listing.excluded)
    page = await _service(request).groups(call, listing.query, members=members)
    schema = group_schema()
    resources = [
        project(
            schema,
            group_resource(g, call.base, members=members),
            listing.attributes,
            listing.excluded,
        )
        for g in page.items
    ]
    return _list_response(listing, page.total, resources, page.next_cursor)


@routes.route("*", "/v2/{tenant}/Groups")
async def groups(request: web.Request) -> web.Response:
    """GET: list and filter groups. POST: create a group, with members."""
    call = await _call(request)
    _methods(request, "GET", "POST")
    if request.method == "POST":
        resource = normalise(group_schema(), await _object(request))
        reply = await _service(request).upsert_group(call, resource)
        assert reply.group is not None
        out = group_resource(reply.group, call.base)
        return _json(
            out,
            status=201,
            headers={"Location": out["meta"]["location"], "ETag": etag(reply.group.version)},
        )
    return await _list_groups(request, call, Listing(group_schema(), dict(request.query)))


@routes.route("*", "/v2/{tenant}/Groups/.search")
async def groups_search(request: web.Request) -> web.Response:
    """POST ``.search`` for groups."""
    call = await _call(request)
    _methods(request, "POST")
    return await _list_groups(
        request, call, Listing(group_schema(), _search_params(await _object(request)))
    )


@routes.route("*", "/v2/{tenant}/Groups/{id}")
async def group(request: web.Request) -> web.Response:
    """GET, PUT (full replace, members included), PATCH and DELETE one group."""
    call = await _call(request)
    _methods(request, "GET", "PUT", "PATCH", "DELETE")
    service = _service(request)
    group_id = request.match_info["id"]
    schema = group_schema()
    attributes, excluded = _shaping(request)
    members = _members_wanted(attributes, excluded)
    if request.method in ("GET", "HEAD"):
        snapshot = await service.group(call, group_id, members=members)
        if _not_modified(request, snapshot.version):
            return web.Response(status=304, headers={"ETag": etag(snapshot.version)})
    elif request.method == "DELETE":
        await service.delete_group(call, group_id, _if_match(request))
        return web.Response(status=204)
    elif request.method == "PUT":
        resource = normalise(schema, await _object(request))
        reply = await service.upsert_group(
            call, resource, target_id=group_id, expected_version=_if_match(request)
        )
        assert reply.group is not None
        snapshot = reply.group
    else:
        snapshot = await service.patch_group(
            call, group_id, await _body(request), _if_match(request)
        )
    resource = group_resource(snapshot, call.base, members=members)
    return _json(
        project(schema, resource, attributes, excluded), headers={"ETag": etag(snapshot.version)}
    )


# -- discovery -----------------------------------------------------------------------------


@routes.route("*", "/v2/{tenant}/ServiceProviderConfig")
async def service_provider_config_get(request: web.Request) -> web.Response:
    """RFC 7644 §4: the features this endpoint supports."""
    call = await _call(request)
    _methods(request, "GET")
    return _json(discovery.service_provider_config(f"{call.base}/ServiceProviderConfig"))


def _listed(documents: list[dict[str, Any]]) -> web.Response:
    return _json(
        {
            "schemas": [LIST_RESPONSE],
            "totalResults": len(documents),
            "itemsPerPage": len(documents),
            "startIndex": 1,
            "Resources": documents,
        }
    )


@routes.route("*", "/v2/{tenant}/Schemas")
@routes.route("*", "/v2/{tenant}/Schemas/{id}")
async def schemas(request: web.Request) -> web.Response:
    """RFC 7644 §4: the schemas of Users, the enterprise extension and Groups."""
    call = await _call(request)
    _methods(request, "GET")
    documents = discovery.schemas(call.base)
    wanted = request.match_info.get("id")
    if wanted is None:
        return _listed(list(documents.values()))
    if wanted not in documents:
        raise NotFound(f"no schema {wanted}")
    return _json(documents[wanted])


@routes.route("*", "/v2/{tenant}/ResourceTypes")
@routes.route("*", "/v2/{tenant}/ResourceTypes/{id}")
async def resource_types(request: web.Request) -> web.Response:
    """RFC 7644 §4: User and Group."""
    call = await _call(request)
    _methods(request, "GET")
    documents = discovery.resource_types(call.base)
    wanted = request.match_info.get("id")
    if wanted is None:
        return _listed(list(documents.values()))
    if wanted not in documents:
        raise NotFound(f"no resource type {wanted}")
    return _json(documents[wanted])


@routes.route("*", "/v2/{tenant}/Bulk")
async def bulk_request(request: web.Request) -> web.Response:
    """RFC 7644 §3.7: many writes, each answered on its own, in one request."""
    call = await _call(request)
    _methods(request, "POST")
    return _json(await bulk.execute(_service(request), call, await _body(request)))


@routes.route("*", "/v2/{tenant}/.search")
async def root_search(request: web.Request) -> web.Response:
    """RFC 7644 §3.4.3 root search across resource types: not served (501)."""
    await _call(request)
    _methods(request, "POST")
    raise NotImplementedYet(
        "searching Users and Groups at once is not supported: "
        "POST /Users/.search or /Groups/.search"
    )


@routes.route("*", "/v2/{tenant}/Me")
@routes.route("*", "/v2/{tenant}/Me/{rest:.*}")
async def me(request: web.Request) -> web.Response:
    """RFC 7644 §3.11: a SCIM token is a tenant's, not a person's, so there is no "me"."""
    await _call(request)
    raise NotImplementedYet("/Me is not supported: SCIM tokens belong to a tenant, not a user")


@routes.route("*", "/v2/{tenant}")
@routes.route("*", "/v2/{tenant}/{rest:.*}")
async def unknown(request: web.Request) -> web.Response:
    """Any other path under a tenant: authenticated, then not found."""
    await _call(request)
    raise NotFound(f"no SCIM endpoint {request.path}")


@routes.route("*", "/v2")
@routes.route("*", "/v2/")
async def no_tenant(request: web.Request) -> web.Response:
    """The SCIM base URL names a tenant."""
    raise NotFound("the SCIM base URL is /scim/v2/{tenant}/")
