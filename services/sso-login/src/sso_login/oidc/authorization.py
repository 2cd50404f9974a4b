"""The authorization request of the code flow (OIDC Core 3.1.2.1) with PKCE S256 (RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

from sso_login.connections import OidcConnection


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(
    endpoint: str,
    connection: OidcConnection,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    verifier: str,
) -> str:
    """Where to send the browser: the provider's authorization endpoint with our request."""
    params = {
        "response_type": "code",
        "client_id": connection.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(connection.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    sep = "&" if "?" in endpoint else "?"
    return endpoint + sep + urlencode(params)
