"""What an id taken from a URL may look like, and internal URLs built from quoted segments.

Roster mints the id of every tenant, user, group and reconciler run with
:func:`roster_shared.events.envelope.new_id`: a UUID4 in canonical text form (lower-case hex,
8-4-4-4-12). Tenants are also named by a slug (1-64 lower-case letters, digits and dashes, no
dash at either end). A path segment of any other form names nothing, so each service refuses it
where it enters, as it would an unknown id, before it reaches another service or a database.

Every URL one service builds to another comes from :func:`internal_path`: each segment is
percent-encoded whole (``/``, ``\\``, ``%``, ``?``, ``#`` included), and empty, ``.`` and ``..``
segments are refused, so no value can add, remove or climb path segments once the URL is
normalised on the way.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from yarl import URL

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def is_id(value: object) -> bool:
    """True for an id in the form :func:`~roster_shared.events.envelope.new_id` mints."""
    # fullmatch, not ``$``: "$" also matches before a trailing newline.
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_slug(value: object) -> bool:
    """True for a tenant slug: 1-64 lower-case letters, digits and dashes, no dash at an end."""
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def is_tenant_ref(value: object) -> bool:
    """True for what may name a tenant in a URL: its slug or its id.

    A canonical UUID is itself of slug form, so one check covers both.
    """
    return is_slug(value)


class UnsafeSegment(ValueError):
    """A value that cannot be one path segment of an internal URL (empty, ``.``, ``..``)."""


def internal_path(*segments: str) -> str:
    """``/seg/seg/...`` with every segment percent-encoded whole.

    ``internal_path("internal", "tenants", tenant_id, "users", user_id)``. Raises
    :class:`UnsafeSegment` for an empty, ``.`` or ``..`` segment (or a non-string): those are
    the values that percent-encoding leaves able to change the path's shape.
    """
    if not segments:
        raise UnsafeSegment("an internal path needs at least one segment")
    quoted = []
    for segment in segments:
        if not isinstance(segment, str) or segment in ("", ".", ".."):
            raise UnsafeSegment(f"{segment!r} cannot be a path segment")
        quoted.append(quote(segment, safe=""))
    return "/" + "/".join(quoted)


def internal_url(base: str, path: str) -> URL:
    """The URL of ``path`` (from :func:`internal_path`) under a service's configured base URL.

    Built with ``encoded=True``: the path is quoted already and is sent byte for byte, so no
    client-side requoting or normalisation can turn an encoded ``%2F`` back into a separator.
    """
    return URL(base.rstrip("/") + path, encoded=True)
