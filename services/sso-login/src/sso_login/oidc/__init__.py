"""OpenID Connect relying party: the authorization code flow with PKCE, state and nonce, and
the ID token validated in full against the provider's keys.

* :mod:`.providers` — discovery, JWKS (cached, refetch rate-limited), code exchange, userinfo;
* :mod:`.id_token` — the ID token's checks (algorithm allow-list first, then signature, issuer,
  audience and ``azp``, times, nonce, subject);
* :mod:`.authorization` — the authorization request and its PKCE S256 challenge;
* :mod:`.routes` — the login and callback handlers.
"""

from __future__ import annotations

from sso_login.oidc.authorization import authorization_url, pkce_challenge
from sso_login.oidc.errors import OidcError
from sso_login.oidc.providers import DISCOVERY_TTL, OidcProviders

__all__ = ["DISCOVERY_TTL", "OidcError", "OidcProviders", "authorization_url", "pkce_challenge"]
