"""Sealed cookie values: the operator's session, the form nonce and a secret shown once.

:mod:`roster_shared.sealing` (AES-256-GCM, a key per purpose derived by HKDF-SHA256 from the
console's session secret, the purpose bound as associated data, the expiry inside the sealed
part) under the console's own label ``roster-console/cookie/v1/``: a value sealed for one purpose
never opens as another, nor as one of sso-login's, and nothing in a cookie is readable or
forgeable without the secret.
"""

from __future__ import annotations

from roster_shared import sealing

LABEL = b"roster-console/cookie/v1/"

BadSeal = sealing.BadSeal


class Sealer(sealing.Sealer):
    """Seals and opens the console's cookie values with keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret, label=LABEL)
