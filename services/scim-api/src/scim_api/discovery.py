"""Service provider discovery (RFC 7644 §4, RFC 7643 §5): what this endpoint supports.

Honest by construction: a feature is advertised only once it is served.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Meta,
    Patch,
    ServiceProviderConfig,
    Sort,
)


def service_provider_config(location: str) -> dict[str, Any]:
    """The ``/ServiceProviderConfig`` resource, as JSON-ready data."""
    config = ServiceProviderConfig(
        patch=Patch(supported=False),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=False, max_results=0),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
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
    data: dict[str, Any] = config.model_dump(exclude_none=True)
    return data
