"""What every IdP expects back, checked the same way in each interop module."""

from __future__ import annotations

from typing import Any

from tests.scim.stack import Tenant

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


async def ok(tenant: Tenant, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    """One request that must succeed with ``status``; returns the body."""
    got, body, headers = await tenant.request(method, path, **kw)
    assert got == status, (method, path, got, body)
    if body is not None and status in (200, 201):
        assert headers["Content-Type"].startswith("application/scim+json")
    return body


async def listed(tenant: Tenant, path: str, **params: str) -> dict[str, Any]:
    """A ListResponse, checked for the fields every IdP reads."""
    body = await ok(tenant, "GET", path, params=params)
    assert body["schemas"] == [LIST]
    assert isinstance(body["totalResults"], int)
    assert isinstance(body["Resources"], list)
    assert body["itemsPerPage"] == len(body["Resources"])
    return dict(body)


async def failed(
    tenant: Tenant, method: str, path: str, status: int, scim_type: str | None = None, **kw: Any
) -> dict[str, Any]:
    """One request that must fail with a SCIM error."""
    got, body, _ = await tenant.request(method, path, **kw)
    assert got == status, (method, path, got, body)
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type is not None:
        assert body["scimType"] == scim_type
    return dict(body)


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def member_ids(group: dict[str, Any]) -> set[str]:
    return {m["value"] for m in group.get("members", [])}
