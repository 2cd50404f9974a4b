"""The one exception every SAML check raises."""

from __future__ import annotations


class SamlError(Exception):
    """A SAML message we refuse; the text is for the log, not for the person."""
