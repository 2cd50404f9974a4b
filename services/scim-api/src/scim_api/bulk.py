"""The Bulk use case (RFC 7644 §3.7): a BulkRequest's operations run in order, each answered on
its own.

``failOnErrors`` stops after that many errors. Each operation goes through the same use cases as
the single endpoints, so it gets the same validation, identity rules and errors. The message
format (operations, ``bulkId`` references, the response) is :mod:`scim_api.messages.bulk`'s.
"""

from __future__ import annotations

from typing import Any

from scim_api.errors import InvalidSyntax, ScimError
from scim_api.messages.bulk import BulkOperation, BulkRequest, bulk_response, failed
from scim_api.resources import etag, group_resource, normalise, user_attributes, user_resource
from scim_api.resources.schemas import group_schema, user_schema
from scim_api.service import Call, ScimService


async def execute(service: ScimService, call: Call, body: Any) -> dict[str, Any]:
    """Run a BulkRequest; the BulkResponse."""
    request = BulkRequest.parse(body)
    ids: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    errors = 0
    for op in request.operations:
        if not isinstance(op, dict):
            raise InvalidSyntax("each operation must be an object")
        try:
            results.append(await _run(service, call, BulkOperation.parse(op, ids), ids))
        except ScimError as error:
            errors += 1
            results.append(failed(op, error))
            if request.fail_on_errors is not None and errors >= request.fail_on_errors:
                break
    return bulk_response(results)


async def _run(
    service: ScimService, call: Call, op: BulkOperation, ids: dict[str, str]
) -> dict[str, Any]:
    """One operation's result; a resource it creates is entered in ``ids`` under its bulkId."""
    method, target, data, version = op.method, op.target, op.data, op.version
    out: dict[str, Any] = {"method": method}
    if op.bulk_id is not None:
        out["bulkId"] = op.bulk_id
    if method == "DELETE":
        assert target is not None
        if op.kind == "Users":
            await service.delete_user(call, target, version)
        else:
            await service.delete_group(call, target, version)
        out.update(location=f"{call.base}/{op.kind}/{target}", status="204")
        return out
    if op.kind == "Users":
        if method == "PATCH":
            assert target is not None
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
            assert target is not None
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
        ids[str(op.bulk_id)] = resource["id"]
    out.update(
        location=resource["meta"]["location"],
        version=etag(version_now),
        status="201" if method == "POST" else "200",
    )
    return out
