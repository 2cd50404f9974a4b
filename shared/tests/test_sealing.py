"""Sealed cookie values (roster_shared.sealing), the one construction sso-login and the console
both use, each under its own label: what one service sealed never opens in the other."""

from __future__ import annotations

import pytest
from roster_shared.sealing import BadSeal, Sealer

SECRET = b"s" * 32


def test_a_value_opens_only_under_its_own_label_purpose_and_secret() -> None:
    sso = Sealer(SECRET, label=b"roster-sso-login/cookie/v1/")
    console = Sealer(SECRET, label=b"roster-console/cookie/v1/")
    value = sso.dumps("session", {"who": "ada"}, max_age=60)
    assert sso.loads("session", value) == {"who": "ada"}
    assert "ada" not in value  # encrypted, not only signed
    # Same secret, same purpose, another service's label: another key, so it does not open.
    with pytest.raises(BadSeal, match="tampered"):
        console.loads("session", value)
    with pytest.raises(BadSeal, match="another purpose"):
        sso.loads("form", value)
    with pytest.raises(BadSeal, match="another secret"):
        Sealer(b"t" * 32, label=b"roster-sso-login/cookie/v1/").loads("session", value)
    with pytest.raises(BadSeal, match="expired"):
        sso.loads("session", sso.dumps("session", {}, max_age=-1))


def test_keys_are_per_label_and_purpose_and_purposes_are_short_labels() -> None:
    sso = Sealer(SECRET, label=b"roster-sso-login/cookie/v1/")
    console = Sealer(SECRET, label=b"roster-console/cookie/v1/")
    assert len(console.key("csrf")) == 32
    assert len({sso.key("csrf"), console.key("csrf"), console.key("form")}) == 3
    with pytest.raises(ValueError, match="short lower-case label"):
        console.key("Not A Purpose")
