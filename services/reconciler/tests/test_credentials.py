"""Directory credentials: encrypted under the configured key, useless without it."""

from __future__ import annotations

import pytest
from reconciler.credentials import CredentialError, Vault, new_key


def test_round_trip_and_wrong_key() -> None:
    key = new_key()
    stored = Vault(key).encrypt("ssws-secret")
    assert "ssws-secret" not in stored
    assert Vault(key).decrypt(stored) == "ssws-secret"
    with pytest.raises(CredentialError, match="connect the directory again"):
        Vault(new_key()).decrypt(stored)


def test_no_key_no_credentials() -> None:
    with pytest.raises(CredentialError, match="ROSTER_DIRECTORY_KEY is not set"):
        Vault(None).encrypt("x")
    with pytest.raises(CredentialError, match="not a Fernet key"):
        Vault("short")
