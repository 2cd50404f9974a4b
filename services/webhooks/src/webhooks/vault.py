"""Signing secrets are stored encrypted (Fernet) under ``ROSTER_WEBHOOK_KEY``: the user-store
holds only ciphertext, and a copy of the database alone signs nothing."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class VaultError(Exception):
    """The key is malformed, or a ciphertext was made under another key."""


class Vault:
    """Encrypts and decrypts signing secrets with one key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "ROSTER_WEBHOOK_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc

    def encrypt(self, secret: str) -> str:
        """The ciphertext to store."""
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The secret back."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise VaultError(
                "a stored signing secret does not decrypt under ROSTER_WEBHOOK_KEY "
                "(was the key changed?): rotate the endpoint's secret"
            ) from exc
