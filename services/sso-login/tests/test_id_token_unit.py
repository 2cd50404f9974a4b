"""The ID token's checks on their own, without a provider (tests/sso/test_oidc_attacks.py sends
the same forgeries through a whole login), and the authorization request."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sso_login.connections import OidcConnection
from sso_login.oidc import OidcError, authorization_url, pkce_challenge
from sso_login.oidc.id_token import allowed_key_id, verified_claims

NOW = 1_800_000_000.0
ISSUER = "https://idp.example"
CONNECTION = OidcConnection(issuer=ISSUER, client_id="roster-acme", client_secret="s")
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def token(key: RSAKey = KEY, alg: str = "RS256", **changes: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "roster-acme",
        "sub": "00u1",
        "nonce": "n-1",
        "exp": int(NOW) + 300,
        "iat": int(NOW) - 10,
        **changes,
    }
    present = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, present, key, algorithms=[alg])


def check(id_token: str, keys: RSAKey = KEY) -> dict[str, Any]:
    allowed_key_id(id_token, CONNECTION)
    return verified_claims(
        id_token,
        KeySet([keys]),
        CONNECTION,
        nonce="n-1",
        skew=60,
        max_age=600,
        now=NOW,
    )


def test_a_genuine_token_gives_its_claims_and_its_key_id() -> None:
    genuine = token()
    assert allowed_key_id(genuine, CONNECTION) == "k1"
    assert check(genuine)["sub"] == "00u1"
    assert check(token(aud=["roster-acme", "other"], azp="roster-acme"))["sub"] == "00u1"


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        ("not.a.token", "malformed ID token"),
        (token(alg="RS512"), "algorithm 'RS512' is not allowed"),
        (token()[:-8] + "AAAAAAAA", "ID token signature"),
        (token(iss="https://other-tenant-idp.example"), "is not the tenant's"),
        (token(aud="other"), "audience is not our client id"),
        (token(aud=["roster-acme", "other"]), "azp is not our client id"),
        (token(azp="other"), "azp is not our client id"),
        (token(exp=None), "lacks exp or iat"),
        (token(iat=None), "lacks exp or iat"),
        (token(exp=int(NOW) - 60), "ID token expired"),
        (token(iat=int(NOW) + 61), "issued in the future"),
        (token(iat=int(NOW) - 661), "issued too long ago"),
        (token(nonce="other"), "nonce does not match"),
        (token(nonce=None), "nonce does not match"),
        (token(sub=""), "has no subject"),
    ],
)
def test_each_check_refuses_for_its_own_reason(forged: str, reason: str) -> None:
    with pytest.raises(OidcError, match=reason):
        check(forged)


def test_a_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(OidcError, match="ID token signature"):
        check(token(key=OTHER_KEY))


def test_the_skew_is_allowed_on_both_ends() -> None:
    assert check(token(exp=int(NOW) - 59, iat=int(NOW) + 59))["sub"] == "00u1"


def test_the_authorization_request_carries_state_nonce_and_the_s256_challenge() -> None:
    url = authorization_url(
        "https://idp.example/authorize?tenant=x",
        CONNECTION,
        redirect_uri="https://roster.example/sso/acme/oidc/callback",
        state="st",
        nonce="n",
        verifier="v" * 43,
    )
    parts = urlsplit(url)
    assert parts.path == "/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "tenant": "x",
        "response_type": "code",
        "client_id": "roster-acme",
        "redirect_uri": "https://roster.example/sso/acme/oidc/callback",
        "scope": "openid email profile",
        "state": "st",
        "nonce": "n",
        "code_challenge": pkce_challenge("v" * 43),
        "code_challenge_method": "S256",
    }
    # RFC 7636 appendix B's example
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
