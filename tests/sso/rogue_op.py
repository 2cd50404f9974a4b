"""An OpenID provider under the test's control, to hand sso-login forged or broken ID tokens.

It serves discovery, a JWKS, an authorization endpoint that answers at once (code, state and
the RFC 9207 ``iss``) and a token endpoint whose ID token the test builds from the nonce the
login sent. Used for the attack tests; the real provider is oidc-provider (openid_provider.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web
from aiohttp.test_utils import TestServer
from joserfc import jwt
from joserfc.jwk import RSAKey

TokenMaker = Callable[["RogueOp", dict[str, Any]], str]


class RogueOp:
    """A tiny provider; ``make_token(op, claims)`` decides what the token endpoint returns."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "good", "use": "sig"})
        self.server: TestServer | None = None
        self.issuer = ""
        self.client_id = ""
        self.nonces: dict[str, str] = {}
        self.jwks_hits = 0
        self.make_token: TokenMaker = RogueOp.genuine

    async def start(self, client_id: str) -> None:
        self.client_id = client_id
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/userinfo", self._userinfo)
        self.server = TestServer(app)
        await self.server.start_server()
        self.issuer = str(self.server.make_url("")).rstrip("/")

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()

    # -- token helpers for tests ------------------------------------------------------------

    def claims(self, nonce: str, **override: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "sub": "u-1",
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "email": "eve@example.com",
        }
        base.update(override)
        return {k: v for k, v in base.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, alg: str = "RS256", kid: str = "good") -> str:
        return jwt.encode({"alg": alg, "kid": kid}, claims, self.key, algorithms=[alg])

    @staticmethod
    def genuine(op: RogueOp, request: dict[str, Any]) -> str:
        return op.sign(op.claims(request["nonce"]))

    @staticmethod
    def unsigned(claims: dict[str, Any]) -> str:
        import base64
        import json

        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."

    def hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        """The RS/HS confusion: HMAC keyed with the RSA *public* key, which anyone has."""
        import base64
        import hashlib
        import hmac
        import json

        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        public_pem = self.key.as_pem(private=False)  # joserfc itself refuses this as an HS key
        signing_input = (
            part(json.dumps({"alg": "HS256", "kid": "good", "typ": "JWT"}).encode())
            + "."
            + part(json.dumps(claims).encode())
        )
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{part(mac)}"

    # -- endpoints ----------------------------------------------------------------------------

    async def _discovery(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "userinfo_endpoint": self.issuer + "/userinfo",
                "authorization_response_iss_parameter_supported": True,
                "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
            }
        )

    async def _jwks(self, _request: web.Request) -> web.Response:
        self.jwks_hits += 1
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        code = f"code-{len(self.nonces)}"
        self.nonces[code] = query["nonce"]
        params = {"code": code, "state": query["state"], "iss": self.issuer}
        location = f"{query['redirect_uri']}?{urlencode(params)}"
        return web.Response(status=302, headers={"Location": location})

    async def _token(self, request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        code = form["code"][0]
        nonce = self.nonces.get(code, "")
        token = self.make_token(self, {"nonce": nonce, "code": code})
        return web.json_response(
            {"access_token": "at-" + code, "token_type": "Bearer", "id_token": token}
        )

    async def _userinfo(self, _request: web.Request) -> web.Response:
        return web.json_response({"sub": "u-1", "groups": ["staff"]})


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
