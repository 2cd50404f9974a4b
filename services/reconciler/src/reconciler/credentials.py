"""Directory credentials are stored encrypted: Fernet (AES-128-CBC with HMAC-SHA256) under the
key in ``ROSTER_DIRECTORY_KEY``. The user-store only ever holds the ciphertext, and a copy of the
database alone does not give anyone a customer's directory token."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class CredentialError(Exception):
    """No key is configured, or the ciphertext was made under another key."""


def new_key() -> str:
    """A fresh key, for ``ROSTER_DIRECTORY_KEY``."""
    return Fernet.generate_key().decode()


class Vault:
    """Encrypts and decrypts directory tokens with one key."""

    def __init__(self, key: str | None) -> None:
        if not key:
            self._fernet: Fernet | None = None
            return
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise CredentialError(
                "ROSTER_DIRECTORY_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise CredentialError(
                "ROSTER_DIRECTORY_KEY is not set: directory credentials cannot be stored or read"
            )
        return self._fernet

    def encrypt(self, secret: str) -> str:
        """The ciphertext to store."""
        return self._require().encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The secret back."""
        try:
            return self._require().decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise CredentialError(
                "the stored directory credential does not decrypt under ROSTER_DIRECTORY_KEY "
                "(was the key changed?): connect the directory again"
            ) from exc
