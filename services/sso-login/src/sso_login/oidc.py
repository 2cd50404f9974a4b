"""OpenID Connect relying party: discovery, JWKS, the code exchange and ID token validation.

authlib's client leaves most of this to the application: it checks only ``iss``
without ``claims_options``, takes the algorithms from the provider's discovery document, knows
``none`` and refetches the JWKS on any decode error. So this module does the checks itself with
joserfc (which authlib delegates to):

* the JWS algorithm must be in the connection's allow-list of asymmetric algorithms, checked on
  the header *before* any key is chosen (no ``none``, no HS256 keyed with an RSA public key);
* ``iss`` equals the configured issuer exactly; ``aud`` holds our client id, and with several
  audiences ``azp`` must be our client id (and is checked whenever present);
* ``exp`` and ``iat`` are required and checked with a bounded skew; ``nonce`` must equal the one
  bound to this browser's login;
* the JWKS is cached per issuer; an unknown ``kid`` triggers at most one refetch per
  ``jwks_refetch_interval`` (a flood of bogus kids cannot hammer the provider).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sso_login.connections import OidcConnection

DISCOVERY_TTL = 3600.0


class OidcError(Exception):
    """A provider answer or token we refuse; the text is for the log."""


@dataclass
class _Issuer:
    metadata: dict[str, Any] | None = None
    metadata_at: float = 0.0
    keys: KeySet | None = None
    keys_at: float = float("-inf")
    fetches: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcProviders:
    """Discovery documents and key sets of the providers tenants connect to."""

    def __init__(self, *, refetch_interval: float = 60.0, timeout: float = 10.0) -> None:
        self.refetch_interval = refetch_interval
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self._issuers: dict[str, _Issuer] = {}

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def jwks_fetches(self, issuer: str) -> int:
        """How many times the issuer's JWKS was fetched (for tests and metrics)."""
        entry = self._issuers.get(issuer)
        return entry.fetches if entry else 0

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("OidcProviders.start() was not called")
        return self._http

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            async with self.http.get(url, headers=headers) as response:
                if response.status != 200:
                    raise OidcError(f"GET {url}: HTTP {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OidcError(f"GET {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise OidcError(f"GET {url}: not a JSON object")
        return data

    async def metadata(self, issuer: str) -> dict[str, Any]:
        """The issuer's discovery document, whose ``issuer`` must be exactly ``issuer``."""
        entry = self._issuers.setdefault(issuer, _Issuer())
        if entry.metadata is not None and time.monotonic() - entry.metadata_at < DISCOVERY_TTL:
            return entry.metadata
        async with entry.lock:
            if entry.metadata is None or time.monotonic() - entry.metadata_at >= DISCOVERY_TTL:
                url = issuer.rstrip("/") + "/.well-known/openid-configuration"
                document = await self._get_json(url)
                if document.get("issuer") != issuer:
                    raise OidcError(f"discovery names issuer {document.get('issuer')!r}")
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(document.get(name), str):
                        raise OidcError(f"discovery lacks {name}")
                entry.metadata, entry.metadata_at = document, time.monotonic()
        assert entry.metadata is not None
        return entry.metadata

    async def key_set(self, issuer: str, kid: str | None) -> KeySet:
        """The issuer's keys, refetched on an unknown ``kid`` at most once per interval."""
        entry = self._issuers.setdefault(issuer, _Issuer())
        if self._fresh(entry) and entry.keys is not None and _has_kid(entry.keys, kid):
            return entry.keys
        async with entry.lock:
            if self._fresh(entry) and entry.keys is not None and _has_kid(entry.keys, kid):
                return entry.keys
            if self._fresh(entry) and time.monotonic() - entry.keys_at < self.refetch_interval:
                if entry.keys is None:
                    raise OidcError("the provider's keys are unavailable")
                raise OidcError(f"unknown key id {kid!r} (refetch rate-limited)")
            metadata = await self.metadata(issuer)
            entry.keys_at = time.monotonic()
            entry.fetches += 1
            document = await self._get_json(metadata["jwks_uri"])
            try:
                keys = [k for k in document.get("keys", []) if k.get("use", "sig") == "sig"]
                entry.keys = KeySet.import_key_set({"keys": keys})
            except (JoseError, ValueError, TypeError, AttributeError) as exc:
                raise OidcError(f"bad JWKS: {exc}") from exc
        if not _has_kid(entry.keys, kid):
            raise OidcError(f"unknown key id {kid!r}")
        return entry.keys

    @staticmethod
    def _fresh(entry: _Issuer) -> bool:
        """Keys are trusted for an hour; then refetched, so a key the provider retired goes."""
        return time.monotonic() - entry.keys_at < DISCOVERY_TTL

    async def exchange_code(
        self,
        metadata: dict[str, Any],
        connection: OidcConnection,
        *,
        code: str,
        verifier: str,
        redirect_uri: str,
    ) -> dict[str, Any]:
        """The token endpoint's answer to our authorization code (with the PKCE verifier)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_basic" in methods:
            basic = (
                f"{quote(connection.client_id, safe='')}:{quote(connection.client_secret, safe='')}"
            )
            headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        else:
            form["client_id"] = connection.client_id
            form["client_secret"] = connection.client_secret
        try:
            async with self.http.post(
                metadata["token_endpoint"],
                data=urlencode(form),
                headers={
                    **headers,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OidcError(f"token endpoint: {exc}") from exc
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise OidcError(f"token endpoint: HTTP {status}, not JSON") from exc
        if status != 200 or not isinstance(data, dict):
            raise OidcError(f"token endpoint: HTTP {status}: {str(data)[:200]}")
        if not isinstance(data.get("id_token"), str):
            raise OidcError("token endpoint returned no id_token")
        return data

    async def userinfo(self, metadata: dict[str, Any], access_token: str) -> dict[str, Any]:
        """The userinfo endpoint's claims (groups, when the ID token lacks them)."""
        endpoint = metadata.get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        return await self._get_json(endpoint, {"Authorization": f"Bearer {access_token}"})

    async def validate_id_token(
        self,
        id_token: str,
        connection: OidcConnection,
        *,
        nonce: str,
        skew: float,
        max_age: float,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The ID token's claims once every check passed; :class:`OidcError` otherwise."""
        now = time.time() if now is None else now
        try:
            header = jws.extract_compact(id_token.encode()).protected
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError(f"malformed ID token: {exc}") from exc
        alg = header.get("alg")
        if alg not in connection.algorithms:
            raise OidcError(f"ID token algorithm {alg!r} is not allowed")
        keys = await self.key_set(connection.issuer, header.get("kid"))
        try:
            token = jwt.decode(id_token, keys, algorithms=list(connection.algorithms))
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError(f"ID token signature: {exc}") from exc
        claims = dict(token.claims)
        if claims.get("iss") != connection.issuer:
            raise OidcError(f"ID token issuer {claims.get('iss')!r} is not the tenant's")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if connection.client_id not in audiences:
            raise OidcError("ID token audience is not our client id")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != connection.client_id:
            raise OidcError("ID token azp is not our client id")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise OidcError("ID token lacks exp or iat")
        if now >= exp + skew:
            raise OidcError("ID token expired")
        if iat > now + skew:
            raise OidcError("ID token issued in the future")
        if iat < now - max_age - skew:
            raise OidcError("ID token issued too long ago")
        given = claims.get("nonce")
        if not isinstance(given, str) or not hmac.compare_digest(given, nonce):
            raise OidcError("ID token nonce does not match this login")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("ID token has no subject")
        return claims


def _has_kid(keys: KeySet, kid: str | None) -> bool:
    if kid is None:
        return len(keys.keys) > 0
    return any(k.kid == kid for k in keys.keys)
