"""The common attributes of every resource (RFC 7643 §3.1): ``meta`` and its version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def etag(version: int) -> str:
    """The weak ETag of a resource version (RFC 7644 §3.14)."""
    return f'W/"{version}"'


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (SQLite hands back naive UTC datetimes)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def meta(
    resource_type: str, created: datetime, modified: datetime, version: int, location: str
) -> dict[str, Any]:
    """The ``meta`` attribute of a resource at ``location``."""
    return {
        "resourceType": resource_type,
        "created": timestamp(created),
        "lastModified": timestamp(modified),
        "location": location,
        "version": etag(version),
    }
