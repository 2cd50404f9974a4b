"""The one exception every OIDC check raises."""

from __future__ import annotations


class OidcError(Exception):
    """A provider answer or token we refuse; the text is for the log."""
