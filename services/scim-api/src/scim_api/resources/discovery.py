"""Service provider discovery (RFC 7644 §4, RFC 7643 §5-6): what this endpoint supports.

Honest by construction: a feature is advertised only once it is served, with the limits the
handlers enforce.
"""

from __future__ import annotations

import copy
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Meta,
    Pagination,
    Patch,
    ServiceProviderConfig,
    Sort,
)

from scim_api.resources.schemas import resource_type_documents, schema_documents

MAX_RESULTS = 500
"""The most resources one list response holds (``count`` above it is lowered to it)."""
DEFAULT_COUNT = 100
MAX_SORTED_SEARCH = 1000
"""How far into its results a sorted search across resource types (``POST /.search`` with
``sortBy``) reaches: each type's first rows up to there are merged in memory."""
MAX_BULK_OPERATIONS = 1000
MAX_PAYLOAD = 1_048_576


def service_provider_config(location: str) -> dict[str, Any]:
    """The ``/ServiceProviderConfig`` resource, as JSON-ready data."""
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=True, max_operations=MAX_BULK_OPERATIONS, max_payload_size=MAX_PAYLOAD),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        pagination=Pagination(
            cursor=True,
            index=True,
            default_pagination_method="index",
            default_page_size=DEFAULT_COUNT,
            max_page_size=MAX_RESULTS,
        ),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="A per-tenant SCIM token, issued with "
                "`roster tenant token create <tenant>` and sent as "
                "'Authorization: Bearer <token>'.",
                spec_uri="https://www.rfc-editor.org/rfc/rfc6750",
                primary=True,
            )
        ],
        meta=Meta(resource_type="ServiceProviderConfig", location=location),
    )
    data: dict[str, Any] = config.model_dump(exclude_none=True, mode="json")
    return data


def schemas(base: str) -> dict[str, dict[str, Any]]:
    """Each ``Schema`` resource by id, with its location under ``base``."""
    out = {}
    for urn, document in schema_documents().items():
        data = copy.deepcopy(document)
        data["meta"] = {"resourceType": "Schema", "location": f"{base}/Schemas/{urn}"}
        out[urn] = data
    return out


def resource_types(base: str) -> dict[str, dict[str, Any]]:
    """Each ``ResourceType`` resource by id, with its location under ``base``."""
    out = {}
    for name, document in resource_type_documents().items():
        data = copy.deepcopy(document)
        data["meta"] = {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{name}"}
        out[name] = data
    return out
