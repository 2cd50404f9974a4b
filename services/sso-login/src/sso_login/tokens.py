"""Sealed, expiring, purpose-bound values for sso-login's cookies (sessions and logins in
progress): :mod:`roster_shared.sealing` under sso-login's own key label.

A login in progress carries the tenant id, the OIDC state, nonce and PKCE verifier, a session the
person's user name: none of it may be readable by whoever gets hold of the cookie.
"""

from __future__ import annotations

from roster_shared import sealing

LABEL = b"roster-sso-login/cookie/v1/"
"""HKDF ``info`` prefix of sso-login's cookie keys; the purpose follows."""

BadToken = sealing.BadSeal


class Sealer(sealing.Sealer):
    """Seals and opens sso-login's cookie values with keys derived from the session secret."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret, label=LABEL)
