"""Read-only directory connectors: list a customer's users and their status, completely or not
at all (Microsoft Graph, Okta, Google Workspace Directory, generic SCIM 2.0)."""

from __future__ import annotations

from reconciler.directory.base import (
    Connector,
    DirectoryError,
    DirectoryUser,
    HttpClient,
    RetryPolicy,
    Snapshot,
    Status,
)
from reconciler.directory.google import GoogleConnector
from reconciler.directory.graph import GraphConnector
from reconciler.directory.okta import OktaConnector
from reconciler.directory.scim import ScimConnector

CONNECTORS: dict[str, type[Connector]] = {
    "graph": GraphConnector,
    "okta": OktaConnector,
    "google": GoogleConnector,
    "scim": ScimConnector,
}


def connector(kind: str, url: str, token: str, http: HttpClient) -> Connector:
    """The connector of ``kind`` for the API at ``url``."""
    return CONNECTORS[kind](url, token, http)


__all__ = [
    "CONNECTORS",
    "Connector",
    "DirectoryError",
    "DirectoryUser",
    "GoogleConnector",
    "GraphConnector",
    "HttpClient",
    "OktaConnector",
    "RetryPolicy",
    "ScimConnector",
    "Snapshot",
    "Status",
    "connector",
]
