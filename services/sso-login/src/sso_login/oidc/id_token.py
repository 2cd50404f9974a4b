"""ID token validation (OIDC Core 3.1.3.7), each check named, with joserfc.

The algorithm is checked on the header *before* any key is chosen (no ``none``, no HS256 keyed
with an RSA public key); then the signature against the provider's keys, and the claims:
``iss`` exactly the configured issuer; ``aud`` holding our client id and, with several audiences
or whenever present, ``azp`` equal to it; ``exp`` and ``iat`` required, within a bounded skew
and age; ``nonce`` the one bound to this browser's login; a ``sub``.
"""

from __future__ import annotations

import hmac
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sso_login.connections import OidcConnection
from sso_login.oidc.errors import OidcError


def allowed_key_id(id_token: str, connection: OidcConnection) -> str | None:
    """The ``kid`` to fetch the key by, once the header's algorithm is in the connection's
    allow-list."""
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcError(f"malformed ID token: {exc}") from exc
    alg = header.get("alg")
    if alg not in connection.algorithms:
        raise OidcError(f"ID token algorithm {alg!r} is not allowed")
    kid: str | None = header.get("kid")
    return kid


def verified_claims(
    id_token: str,
    keys: KeySet,
    connection: OidcConnection,
    *,
    nonce: str,
    skew: float,
    max_age: float,
    now: float,
) -> dict[str, Any]:
    """The claims of a token signed by one of ``keys``, once every claim check passed."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(connection.algorithms))
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcError(f"ID token signature: {exc}") from exc
    claims = dict(token.claims)
    _check_issuer(claims, connection)
    _check_audience(claims, connection)
    _check_times(claims, now=now, skew=skew, max_age=max_age)
    _check_nonce(claims, nonce)
    _check_subject(claims)
    return claims


def _check_issuer(claims: dict[str, Any], connection: OidcConnection) -> None:
    if claims.get("iss") != connection.issuer:
        raise OidcError(f"ID token issuer {claims.get('iss')!r} is not the tenant's")


def _check_audience(claims: dict[str, Any], connection: OidcConnection) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if connection.client_id not in audiences:
        raise OidcError("ID token audience is not our client id")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != connection.client_id:
        raise OidcError("ID token azp is not our client id")


def _check_times(claims: dict[str, Any], *, now: float, skew: float, max_age: float) -> None:
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise OidcError("ID token lacks exp or iat")
    if now >= exp + skew:
        raise OidcError("ID token expired")
    if iat > now + skew:
        raise OidcError("ID token issued in the future")
    if iat < now - max_age - skew:
        raise OidcError("ID token issued too long ago")


def _check_nonce(claims: dict[str, Any], nonce: str) -> None:
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given, nonce):
        raise OidcError("ID token nonce does not match this login")


def _check_subject(claims: dict[str, Any]) -> None:
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise OidcError("ID token has no subject")
