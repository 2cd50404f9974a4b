"""Bulk messages (RFC 7644 §3.7): a BulkRequest's operations, their ``bulkId`` references, and
the BulkResponse that answers each operation on its own.

``bulkId`` references (``"bulkId:qwerty"`` in a path or anywhere in ``data``) resolve to the ids
of resources created earlier in the same request; a reference to a bulkId not created (yet) is
that operation's 409 error, as the RFC describes for unresolvable references. Running the
operations is :mod:`scim_api.bulk`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scim_api.errors import (
    InvalidSyntax,
    InvalidValue,
    NotFound,
    ScimError,
    TooManyOperations,
)
from scim_api.messages.preconditions import version_number
from scim_api.resources.discovery import MAX_BULK_OPERATIONS

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

# Endpoint names in any case and with a trailing slash, as on the endpoints themselves.
_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?/?$", re.IGNORECASE)
_REFERENCE = re.compile(r"^bulkId:(.+)$")


class UnresolvedReference(ScimError):
    """A ``bulkId`` that no earlier operation of the request created (RFC 7644 §3.7.1: 409)."""

    status = 409
    scim_type = "invalidValue"


@dataclass(frozen=True)
class BulkRequest:
    """A BulkRequest's operations (each still to be checked) and its ``failOnErrors``."""

    operations: list[Any]
    fail_on_errors: int | None

    @classmethod
    def parse(cls, body: Any) -> BulkRequest:
        """The BulkRequest of a body; 400 when it is not one or has too many operations."""
        if not isinstance(body, dict):
            raise InvalidSyntax("the body must be a BulkRequest object")
        schemas = body.get("schemas")
        if schemas is not None and (not isinstance(schemas, list) or BULK_REQUEST not in schemas):
            raise InvalidSyntax(f"schemas must be [{BULK_REQUEST!r}]")
        ops = body.get("Operations", body.get("operations"))
        if not isinstance(ops, list):
            raise InvalidSyntax("Operations must be a list")
        if len(ops) > MAX_BULK_OPERATIONS:
            raise TooManyOperations(
                f"at most {MAX_BULK_OPERATIONS} operations per Bulk request (maxOperations)"
            )
        fail_on = body.get("failOnErrors")
        if fail_on is not None and (not isinstance(fail_on, int) or fail_on < 1):
            raise InvalidValue("failOnErrors must be a positive integer")
        return cls(ops, fail_on)


@dataclass(frozen=True)
class BulkOperation:
    """One operation with its references resolved: ``kind`` is ``Users`` or ``Groups``,
    ``target`` the resource id (None for a POST)."""

    method: str
    kind: str
    target: str | None
    bulk_id: str | None
    data: Any
    version: int | None

    @classmethod
    def parse(cls, op: dict[str, Any], ids: dict[str, str]) -> BulkOperation:
        """The operation ``op`` names, its ``bulkId`` references resolved through ``ids``
        (bulkId to the id created for it); 400, 404 or 409 when it cannot be run."""
        method = str(op.get("method", "")).upper()
        path = op.get("path")
        bulk_id = op.get("bulkId")
        if method not in ("POST", "PUT", "PATCH", "DELETE") or not isinstance(path, str):
            raise InvalidSyntax(
                "each operation needs a method (POST, PUT, PATCH, DELETE) and a path"
            )
        match = _PATH.match(path)
        if match is None:
            raise NotFound(f"no bulk target {path!r}: use /Users, /Groups or /<type>/<id>")
        kind, target = match.groups()
        kind = "Users" if kind.lower() == "users" else "Groups"
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
        return cls(method, kind, target, bulk_id, data, _version(op.get("version")))


def _version(value: Any) -> int | None:
    if value is None:
        return None
    number = version_number(str(value))
    if number is None:
        raise InvalidValue(f"version {str(value)[:40]!r} is not one of this endpoint's ETags")
    return number


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


def failed(op: dict[str, Any], error: ScimError) -> dict[str, Any]:
    """The response to an operation that failed: its status and a SCIM error message."""
    out: dict[str, Any] = {"method": str(op.get("method", "")).upper()}
    if op.get("bulkId") is not None:
        out["bulkId"] = op["bulkId"]
    response: dict[str, Any] = {
        "schemas": [ERROR],
        "status": str(error.status),
        "detail": error.detail,
    }
    if error.scim_type:
        response["scimType"] = error.scim_type
    out.update(status=str(error.status), response=response)
    return out


def bulk_response(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The BulkResponse of the operations' results, in request order."""
    return {"schemas": [BULK_RESPONSE], "Operations": results}
