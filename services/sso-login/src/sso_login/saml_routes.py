"""The SAML handlers' former path, kept while ``app.py`` imports them from here; they live in
:mod:`sso_login.saml.routes`."""

from __future__ import annotations

from sso_login.saml.routes import routes

__all__ = ["routes"]
