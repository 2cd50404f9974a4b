"""Discovery (RFC 7644 §4): ``/ServiceProviderConfig``, ``/Schemas``, ``/ResourceTypes``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scim_api.errors import NotFound
from scim_api.messages.list_response import everything
from scim_api.resources import discovery
from scim_api.views.base import ScimView, scim_json


class ServiceProviderConfigView(ScimView):
    """``/ServiceProviderConfig``: the features this endpoint supports."""

    async def get(self) -> web.Response:
        """The configuration."""
        location = f"{self.call.base}/ServiceProviderConfig"
        return scim_json(discovery.service_provider_config(location))


def _one_or_all(
    documents: dict[str, dict[str, Any]], wanted: str | None, what: str
) -> web.Response:
    if wanted is None:
        return scim_json(everything(list(documents.values())))
    # Ids match in any case, as endpoint names do: schema URNs are case-insensitive (RFC 8141)
    # and "user" can only mean the User resource type.
    found = {key.lower(): document for key, document in documents.items()}.get(wanted.lower())
    if found is None:
        raise NotFound(f"no {what} {wanted}")
    return scim_json(found)


class SchemasView(ScimView):
    """``/Schemas`` and ``/Schemas/{id}``: User, the enterprise extension and Group."""

    async def get(self) -> web.Response:
        """All schemas, or the one the path names."""
        documents = discovery.schemas(self.call.base)
        return _one_or_all(documents, self.request.match_info.get("id"), "schema")


class ResourceTypesView(ScimView):
    """``/ResourceTypes`` and ``/ResourceTypes/{id}``: User and Group."""

    async def get(self) -> web.Response:
        """All resource types, or the one the path names."""
        documents = discovery.resource_types(self.call.base)
        return _one_or_all(documents, self.request.match_info.get("id"), "resource type")
