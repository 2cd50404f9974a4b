"""Preconditions (RFC 7644 §3.14): a resource's ETag is its version, ``W/"<n>"``; ``If-Match``
makes a write conditional on it, ``If-None-Match`` a read.

Only values that could be one of our ETags are versions: ASCII digits (``str.isdigit`` takes
``'²'``, which ``int()`` refuses), and no more of them than a version can have.
"""

from __future__ import annotations

import re

from scim_api.errors import InvalidVersion, PreconditionFailed

_VERSION = re.compile(r"[0-9]{1,18}")


def version_number(value: str) -> int | None:
    """The version an ETag (``W/"3"``, ``"3"`` or ``3``) names; None when it cannot be ours."""
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not _VERSION.fullmatch(text):
        return None
    return int(text)


def _version(value: str) -> int | None:
    """Our ETag's version, or None for ``*``; 412 for an ETag that cannot be ours."""
    text = value.strip()
    if text == "*":
        return None
    number = version_number(text)
    if number is None:
        raise PreconditionFailed(f"{value[:40]!r} is not a version of this resource")
    return number


def if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header requires; None when it requires none (absent or
    ``*``). 412 for a value that is no version of ours, 400 for more than one."""
    if header is None:
        return None
    versions = [_version(v) for v in header.split(",")]
    if None in versions:
        return None
    if len(versions) != 1:
        raise InvalidVersion("If-Match must name one version")
    return versions[0]


def not_modified(header: str | None, version: int) -> bool:
    """Whether an ``If-None-Match`` header matches ``version`` (a GET then answers 304)."""
    if header is None:
        return False
    for value in header.split(","):
        text = value.strip()
        if text == "*":
            return True
        if version_number(text) == version:
            return True
    return False
