"""Which values of a login may link it to an existing account (docs/design.md identity rule 2).

Only what the IdP vouches for becomes a link key: a SAML NameID of persistent or e-mail format,
an OIDC ``email`` with ``email_verified`` true (for Entra ID, ``xms_edov``), or the one attribute
the tenant's admin names in the mapping. Everything a person can type into their own IdP profile
— ``preferred_username``, an unverified ``email``, attribute statements — never does.
"""

from __future__ import annotations

import pytest
from sso_login.mapping import (
    SAML_EMAIL,
    SAML_PERSISTENT,
    MappingError,
    map_user,
    oidc_link_keys,
    saml_link_keys,
)

UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
OKTA = "https://acme.okta.com"
ENTRA = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"


def _values(keys: tuple[object, ...]) -> list[tuple[str, str, bool, str]]:
    return [(k.value, k.match, k.verified_email, k.basis) for k in keys]  # type: ignore[attr-defined]


def test_saml_nameid_of_email_or_persistent_format_is_a_key() -> None:
    claims = {"mail": ["someone.else@example.com"]}
    email = saml_link_keys(
        claims, name_id="ada@example.com", name_id_format=SAML_EMAIL, mapping="okta"
    )
    assert _values(email) == [("ada@example.com", "user_name", True, "saml-nameid:email")]
    persistent = saml_link_keys(
        claims, name_id="00u1ada", name_id_format=SAML_PERSISTENT, mapping="okta"
    )
    assert _values(persistent) == [("00u1ada", "user_name", False, "saml-nameid:persistent")]


@pytest.mark.parametrize("name_id_format", [UNSPECIFIED, TRANSIENT, None, "urn:x:custom"])
def test_other_nameid_formats_and_attribute_statements_are_not_keys(
    name_id_format: str | None,
) -> None:
    claims = {"mail": ["ada@example.com"], "email": ["ada@example.com"]}
    keys = saml_link_keys(
        claims, name_id="ada@example.com", name_id_format=name_id_format, mapping="generic"
    )
    assert keys == ()


@pytest.mark.parametrize("verified", [False, None, "false", "yes", 1, "TRUE "])
def test_oidc_email_without_email_verified_true_is_not_a_key(verified: object) -> None:
    claims: dict[str, object] = {
        "sub": "u-1",
        "email": "ada@example.com",
        "preferred_username": "ada@example.com",
    }
    if verified is not None:
        claims["email_verified"] = verified
    keys = oidc_link_keys(claims, issuer=OKTA, mapping="okta")
    # "TRUE " is a yes once trimmed and lowered; everything else is not.
    expected = [("ada@example.com", "user_name", True, "oidc:email_verified")]
    assert _values(keys) == (expected if verified == "TRUE " else [])


@pytest.mark.parametrize("verified", [True, "true"])
def test_oidc_email_verified_is_a_key(verified: object) -> None:
    claims = {"sub": "u-1", "email": " ada@example.com ", "email_verified": verified}
    keys = oidc_link_keys(claims, issuer=OKTA, mapping="generic")
    assert _values(keys) == [("ada@example.com", "user_name", True, "oidc:email_verified")]


def test_entra_needs_xms_edov_whatever_email_verified_says() -> None:
    claims = {"sub": "pairwise", "email": "ada@contoso.com", "email_verified": True}
    assert oidc_link_keys(claims, issuer=ENTRA, mapping="entra") == ()
    keys = oidc_link_keys({**claims, "xms_edov": True}, issuer=ENTRA, mapping="entra")
    assert _values(keys) == [("ada@contoso.com", "user_name", True, "entra:xms_edov")]


def test_the_admins_link_mapping_comes_first() -> None:
    mapping = {"preset": "okta", "link": {"attribute": "subject", "match": "external_id"}}
    claims = {"sub": "00u1ada", "email": "ada@example.com", "email_verified": True}
    keys = oidc_link_keys(claims, issuer=OKTA, mapping=mapping)
    assert _values(keys) == [
        ("00u1ada", "external_id", False, "mapping:subject"),
        ("ada@example.com", "user_name", True, "oidc:email_verified"),
    ]
    saml = saml_link_keys(
        {"employeeNumber": ["E-17"]},
        name_id="x",
        name_id_format=UNSPECIFIED,
        mapping={"link": {"attribute": "employeeNumber"}},
    )
    assert _values(saml) == [("E-17", "user_name", False, "mapping:employeeNumber")]


@pytest.mark.parametrize(
    "rule",
    [{"attribute": 3}, {"match": "user_name"}, {"attribute": "x", "match": "email"}, "subject"],
)
def test_a_malformed_link_mapping_is_refused(rule: object) -> None:
    with pytest.raises(MappingError, match='"link"'):
        oidc_link_keys({"sub": "s"}, issuer=OKTA, mapping={"link": rule})


def test_map_user_carries_the_keys_but_never_makes_its_own() -> None:
    claims = {"sub": "u-1", "email": "ada@example.com", "preferred_username": "ada"}
    person = map_user(claims, subject="u-1", mapping="generic")
    assert person.link_keys == ()
    keys = oidc_link_keys({**claims, "email_verified": True}, issuer=OKTA, mapping="generic")
    assert map_user(claims, subject="u-1", mapping="generic", link_keys=keys).link_keys == keys
