"""Where a login may send the browser afterwards: a path on this site, or an allow-listed URL.

RelayState (SAML) and ``return_to`` come from the outside; an unchecked one turns the login into
an open redirect that phishing pages love. A relative path must be a plain absolute path
(``/app/home``): no scheme, no ``//host`` or ``/\\host`` (browsers read both as another host), no
control characters. An absolute URL must share scheme, host and port with an allow-listed prefix
and start with its path.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_LANDING = "/sso/session"


def safe_target(value: str | None, allow: Iterable[str] = ()) -> str | None:
    """``value`` if it is a safe place to return to, else None."""
    if not value or len(value) > 2048:
        return None
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value) or "\\" in value:
        return None
    if value.startswith("/") and not value.startswith("//"):
        parts = urlsplit(value)
        if parts.scheme or parts.netloc:
            return None
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or "@" in parts.netloc:
        return None
    for prefix in allow:
        allowed = urlsplit(prefix)
        if (
            allowed.scheme == parts.scheme
            and allowed.netloc.lower() == parts.netloc.lower()
            and parts.path.startswith(allowed.path or "/")
        ):
            return value
    return None
