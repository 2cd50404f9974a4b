"""Bulk (RFC 7644 §3.7): many writes in one request, run in order, each answered on its own.

``bulkId`` references (``"bulkId:qwerty"`` in a path or anywhere in ``data``) resolve to the ids
of resources created earlier in the same request; a reference to a bulkId not created (yet) is
that operation's 409 error, as the RFC describes for unresolvable references. ``failOnErrors``
stops after that many errors. Each operation goes through the same use cases as the single
endpoints, so it gets the same validation, identity rules and errors.
"""

from __future__ import annotations

import re
from typing import Any

from scim_api import discovery
from scim_api.errors import InvalidSyntax, InvalidValue, NotFound, ScimError, TooMany
from scim_api.resources import etag, group_resource, normalise, user_attributes, user_resource
from scim_api.schemas import BULK_REQUEST, BULK_RESPONSE, group_schema, user_schema
from scim_api.service import Call, ScimService

_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")
_REFERENCE = re.compile(r"^bulkId:(.+)$")


class UnresolvedReference(ScimError):
    """A ``bulkId`` that no earlier operation of the request created (RFC 7644 §3.7.1: 409)."""

    status = 409
    scim_type = "invalidValue"


def _version(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    text = text[2:] if text.startswith("W/") else text
    text = text.strip('"')
    if not re.fullmatch(r"[0-9]{1,18}", text):  # ASCII digits, as many as a version can have
        raise InvalidValue(f"version {str(value)[:40]!r} is not one of this endpoint's ETags")
    return int(text)


def _resolve(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        if match:
            if match.group(1) not in ids:
                raise UnresolvedReference(f"bulkId {match.group(1)!r} was not created before")
            return ids[match.group(1)]
        return value
    if isinstance(value, list):
        return [_resolve(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, ids) for k, v in value.items()}
    return value


def _error(error: ScimError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(error.status),
        "detail": error.detail,
    }
    if error.scim_type:
        body["scimType"] = error.scim_type
    return body


async def _one(
    service: ScimService, call: Call, op: dict[str, Any], ids: dict[str, str]
) -> dict[str, Any]:
    method = str(op.get("method", "")).upper()
    path = op.get("path")
    bulk_id = op.get("bulkId")
    if method not in ("POST", "PUT", "PATCH", "DELETE") or not isinstance(path, str):
        raise InvalidSyntax("each operation needs a method (POST, PUT, PATCH, DELETE) and a path")
    match = _PATH.match(path)
    if match is None:
        raise NotFound(f"no bulk target {path!r}: use /Users, /Groups or /<type>/<id>")
    kind, target = match.groups()
    target = _resolve(target, ids)
    if (method == "POST") != (target is None):
        raise InvalidSyntax(
            f"{method} needs {'no id' if method == 'POST' else 'an id'} in the path"
        )
    if method == "POST" and not isinstance(bulk_id, str):
        raise InvalidSyntax("a POST operation needs a bulkId")
    data = _resolve(op.get("data"), ids)
    if method != "DELETE" and not isinstance(data, dict):
        raise InvalidSyntax(f"{method} needs data (the resource or the PatchOp)")
    version = _version(op.get("version"))
    out: dict[str, Any] = {"method": method}
    if bulk_id is not None:
        out["bulkId"] = bulk_id
    if method == "DELETE":
        if kind == "Users":
            await service.delete_user(call, target, version)
        else:
            await service.delete_group(call, target, version)
        out.update(location=f"{call.base}/{kind}/{target}", status="204")
        return out
    if kind == "Users":
        if method == "PATCH":
            snapshot = await service.patch_user(call, target, data, version)
        else:
            attributes = user_attributes(normalise(user_schema(), data))
            reply = await service.upsert_user(
                call, attributes, target_id=target, expected_version=version
            )
            assert reply.user is not None
            snapshot = reply.user
        resource = user_resource(snapshot, call.base)
        version_now = snapshot.version
    else:
        if method == "PATCH":
            group = await service.patch_group(call, target, data, version)
        else:
            reply = await service.upsert_group(
                call, normalise(group_schema(), data), target_id=target, expected_version=version
            )
            assert reply.group is not None
            group = reply.group
        resource = group_resource(group, call.base)
        version_now = group.version
    if method == "POST":
        ids[str(bulk_id)] = resource["id"]
    out.update(
        location=resource["meta"]["location"],
        version=etag(version_now),
        status="201" if method == "POST" else "200",
    )
    return out


async def execute(service: ScimService, call: Call, body: Any) -> dict[str, Any]:
    """Run a BulkRequest; the BulkResponse."""
    if not isinstance(body, dict):
        raise InvalidSyntax("the body must be a BulkRequest object")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or BULK_REQUEST not in schemas):
        raise InvalidSyntax(f"schemas must be [{BULK_REQUEST!r}]")
    ops = body.get("Operations", body.get("operations"))
    if not isinstance(ops, list):
        raise InvalidSyntax("Operations must be a list")
    if len(ops) > discovery.MAX_BULK_OPERATIONS:
        raise TooMany(f"at most {discovery.MAX_BULK_OPERATIONS} operations per Bulk request")
    fail_on = body.get("failOnErrors")
    if fail_on is not None and (not isinstance(fail_on, int) or fail_on < 1):
        raise InvalidValue("failOnErrors must be a positive integer")
    ids: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    errors = 0
    for op in ops:
        if not isinstance(op, dict):
            raise InvalidSyntax("each operation must be an object")
        try:
            results.append(await _one(service, call, op, ids))
        except ScimError as error:
            errors += 1
            failed: dict[str, Any] = {"method": str(op.get("method", "")).upper()}
            if op.get("bulkId") is not None:
                failed["bulkId"] = op["bulkId"]
            failed.update(status=str(error.status), response=_error(error))
            results.append(failed)
            if fail_on is not None and errors >= fail_on:
                break
    return {"schemas": [BULK_RESPONSE], "Operations": results}
