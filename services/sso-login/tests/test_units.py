"""Pure units of sso-login: attribute mapping presets, safe return targets, signed values,
connection settings, bounded inflate."""

from __future__ import annotations

import base64
import time
import zlib

import pytest
from pydantic import ValidationError
from sso_login.connections import OidcConnection, SsoConfig
from sso_login.mapping import PRESETS, MappingError, map_user
from sso_login.relay import safe_target
from sso_login.saml import SamlError, decode_post, decode_redirect, sp_urls
from sso_login.tokens import BadToken, Sealer

XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"


def test_entra_claim_uris_and_group_object_ids() -> None:
    claims = {
        XMLSOAP + "name": ["ada@contoso.com"],
        XMLSOAP + "emailaddress": ["ada@contoso.com"],
        XMLSOAP + "givenname": ["Ada"],
        XMLSOAP + "surname": ["Lovelace"],
        "http://schemas.microsoft.com/identity/claims/displayname": ["Ada Lovelace"],
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups": [
            "7d3e1c2a-0000-4000-8000-000000000001",
            "7d3e1c2a-0000-4000-8000-000000000002",
        ],
    }
    person = map_user(claims, subject="AAAAA-nameid", mapping="entra")
    assert person.subject == "AAAAA-nameid"
    assert person.attributes.user_name == "ada@contoso.com"
    assert person.attributes.given_name == "Ada"
    assert person.attributes.family_name == "Lovelace"
    assert person.attributes.display_name == "Ada Lovelace"
    assert person.attributes.emails[0].value == "ada@contoso.com"
    assert person.groups == (
        "7d3e1c2a-0000-4000-8000-000000000001",
        "7d3e1c2a-0000-4000-8000-000000000002",
    )


@pytest.mark.parametrize(
    ("preset", "claims"),
    [
        ("okta", {"email": "a@x.com", "firstName": "A", "lastName": "B", "groups": ["g"]}),
        ("google", {"email": "a@x.com", "firstName": "A", "lastName": "B", "groups": ["g"]}),
        (
            "onelogin",
            {
                "User.email": "a@x.com",
                "User.FirstName": "A",
                "User.LastName": "B",
                "memberOf": ["g"],
            },
        ),
        ("jumpcloud", {"email": "a@x.com", "firstname": "A", "lastname": "B", "memberOf": ["g"]}),
        (
            "adfs",
            {
                XMLSOAP + "upn": "a@x.com",
                XMLSOAP + "emailaddress": "a@x.com",
                XMLSOAP + "givenname": "A",
                XMLSOAP + "surname": "B",
                "http://schemas.xmlsoap.org/claims/Group": ["g"],
            },
        ),
        (
            "keycloak",
            {"email": "a@x.com", "firstName": "A", "lastName": "B", "groups": ["g"]},
        ),
        (
            "generic",
            {"email": "a@x.com", "given_name": "A", "family_name": "B", "groups": ["g"]},
        ),
    ],
)
def test_presets(preset: str, claims: dict[str, object]) -> None:
    person = map_user(claims, subject="sub-1", mapping=preset)
    assert person.attributes.user_name == "a@x.com"
    assert (person.attributes.given_name, person.attributes.family_name) == ("A", "B")
    assert person.groups == ("g",)
    assert person.subject == "sub-1"


def test_every_preset_is_tested_or_generic() -> None:
    assert set(PRESETS) == {
        "generic",
        "okta",
        "entra",
        "google",
        "onelogin",
        "jumpcloud",
        "adfs",
        "keycloak",
    }


def test_custom_mapping_first_then_preset() -> None:
    claims = {"uid": "jdoe", "mail": "j@x.com", "team": ["a", "b"], "objectId": "oid-1"}
    mapping = {"preset": "generic", "user_name": "uid", "groups": "team", "subject": "objectId"}
    person = map_user(claims, subject="nameid", mapping=mapping)
    assert person.attributes.user_name == "jdoe"
    assert person.groups == ("a", "b")
    assert person.subject == "oid-1"
    assert person.attributes.emails[0].value == "j@x.com"


def test_no_groups_attribute_leaves_groups_alone_and_nameid_is_the_fallback() -> None:
    person = map_user({}, subject="nameid@x.com", mapping="generic")
    assert person.groups is None
    assert person.attributes.user_name == "nameid@x.com"
    with pytest.raises(MappingError):
        map_user({}, subject="", mapping="generic")
    with pytest.raises(MappingError):
        map_user({}, subject="x", mapping="nope")


@pytest.mark.parametrize(
    "value",
    ["/", "/app", "/app/x?y=1#z", "https://app.example.com/", "https://APP.example.com/deep/x"],
)
def test_safe_targets(value: str) -> None:
    assert safe_target(value, ["https://app.example.com/"]) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "http://app.example.com/",
        "https://app.example.com.evil.example/",
        "https://user@app.example.com/",
        "javascript:alert(1)",
        "/app\r\nSet-Cookie: x=1",
        "/%0d%0a" + "x" * 3000,
        "data:text/html,hi",
    ],
)
def test_unsafe_targets(value: str) -> None:
    assert safe_target(value, ["https://app.example.com/"]) is None


def test_sealed_values_are_purpose_bound_and_expire() -> None:
    sealer = Sealer(b"k" * 32)
    value = sealer.dumps("session", {"a": 1}, max_age=60)
    assert sealer.loads("session", value) == {"a": 1}
    with pytest.raises(BadToken, match="another purpose"):
        sealer.loads("saml-login", value)
    with pytest.raises(BadToken, match="another secret"):
        Sealer(b"j" * 32).loads("session", value)
    version, purpose, blob = value.split(".")
    with pytest.raises(BadToken, match="tampered"):
        sealer.loads("session", f"{version}.{purpose}.{blob[:-2]}AA")
    expired = sealer.dumps("session", {"a": 1}, max_age=-1)
    with pytest.raises(BadToken, match="expired"):
        sealer.loads("session", expired)
    with pytest.raises(BadToken, match="missing"):
        sealer.loads("session", None)
    with pytest.raises(ValueError, match="16 bytes"):
        Sealer(b"short")
    assert time.time() > 0


def test_oidc_connection_refuses_none_and_hmac() -> None:
    for algorithms in (("none",), ("HS256",), ("RS256", "HS512"), ()):
        with pytest.raises(ValidationError):
            OidcConnection(
                issuer="https://i", client_id="c", client_secret="s", algorithms=algorithms
            )
    connection = OidcConnection(
        issuer="https://i", client_id="c", client_secret="s", scopes=("email",)
    )
    assert connection.scopes[0] == "openid"


def test_oidc_issuer_must_be_https_except_on_loopback() -> None:
    for issuer in ("http://op.example.com", "ftp://op", "https://op.example.com?x=1"):
        with pytest.raises(ValidationError):
            OidcConnection(issuer=issuer, client_id="c", client_secret="s")
    for issuer in ("https://op.example.com/tenant", "http://127.0.0.1:9000"):
        assert OidcConnection(issuer=issuer, client_id="c", client_secret="s").issuer == issuer


def test_sso_config_round_trip() -> None:
    assert SsoConfig.of({}).saml is None
    config = SsoConfig.of({"sso": {"mapping": "okta", "session_max_age": 600}})
    assert SsoConfig.of(config.section()) == config
    with pytest.raises(ValidationError):
        SsoConfig.of({"sso": {"session_max_age": 1}})


def test_sp_urls_come_from_the_public_url_only() -> None:
    urls = sp_urls("https://login.example.com/", "acme")
    assert urls.acs_url == "https://login.example.com/sso/acme/saml/acs"
    assert urls.entity_id == "https://login.example.com/sso/acme/saml/metadata"


def test_bounded_decoding() -> None:
    small = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = small.compress(b"<x/>") + small.flush()
    assert decode_redirect(base64.b64encode(data).decode(), max_bytes=4096) == b"<x/>"
    with pytest.raises(SamlError, match="DEFLATE"):
        decode_redirect(base64.b64encode(b"not deflate").decode(), max_bytes=4096)
    with pytest.raises(SamlError, match="base64"):
        decode_post("***", max_bytes=4096)
    with pytest.raises(SamlError, match="too large"):
        decode_post("A" * 10_000, max_bytes=4096)
