"""Identity keys: how userNames and e-mails are compared (RFC 7643 §4.1.1: userName is not
case-exact), so that "Alice@Example.com" and "alice@example.com" are one account."""

from __future__ import annotations

import unicodedata


def name_key(value: str) -> str:
    """Unicode NFKC then case-folded: the comparison key for userName, e-mail, group names."""
    return unicodedata.normalize("NFKC", value).casefold().strip()
