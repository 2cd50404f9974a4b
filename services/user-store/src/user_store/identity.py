"""Identity keys: how userNames and e-mails are compared (RFC 7643 §4.1.1: userName is not
case-exact), so that "Alice@Example.com" and "alice@example.com" are one account."""

from __future__ import annotations

import unicodedata

from roster_shared.filters import name_key as name_key  # shared: scim-api's reader keys by it


def same_link_key(stored: str, offered: str) -> bool:
    """Whether a verified link key names the stored userName.

    Case-insensitive (RFC 7643 §4.1.1) but without NFKC's compatibility folding: ``CHARLIE@...``
    written in fullwidth letters (U+FF23...) is another string, which an attacker may be able to
    register and verify at an IdP, so it must never link to ``charlie@...``. The index lookup
    uses :func:`name_key`; this confirms the candidate it found.
    """
    return (
        unicodedata.normalize("NFC", stored).casefold().strip()
        == unicodedata.normalize("NFC", offered).casefold().strip()
    )
