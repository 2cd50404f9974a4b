"""From an IdP's attributes (SAML) or claims (OIDC) to the person Roster provisions.

Each field lists attribute names to try in order; the first one present wins. Presets cover what
the common IdPs send by default; a tenant may give a custom mapping (any of the fields below)
that is tried before the preset named in ``"preset"`` (default: generic).

The attributes only describe the person. Which account a first login may join is decided by
*link keys*: values the IdP vouches for (:func:`saml_link_keys`, :func:`oidc_link_keys`), or
one attribute the tenant's admin names in the mapping's ``"link"`` entry, e.g.
``{"link": {"attribute": "subject", "match": "external_id"}}`` for Okta, whose OIDC ``sub``
is the Okta user id its SCIM client sends as ``externalId``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ValidationError
from roster_shared.events.people import Email, LinkKey, UserAttributes

SAML_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
SAML_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
LINKING_NAME_ID_FORMATS = {SAML_PERSISTENT: "persistent", SAML_EMAIL: "email"}
"""NameID formats stable enough to link on (SAML Core §8.3.2, §8.3.7): an e-mail NameID is the
address the IdP holds for the person, a persistent one an identifier it never reassigns. The
unspecified and transient formats promise neither."""

ENTRA_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
        "sts.windows.net",
    }
)
"""Entra ID issuers: its ``email`` claim is whatever the user's mail attribute says, verified
or not, and only the optional ``xms_edov`` claim says the domain owner verified it."""

FIELDS = ("subject", "user_name", "email", "given_name", "family_name", "display_name", "groups")

# Claim URIs of Microsoft's WS-Federation heritage, shared by Entra ID and ADFS.
_XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
_MS = "http://schemas.microsoft.com/identity/claims/"
_MS_GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
_OID_MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
_OID_GIVEN = "urn:oid:2.5.4.42"
_OID_SURNAME = "urn:oid:2.5.4.4"
_OID_DISPLAY = "urn:oid:2.16.840.1.113730.3.1.241"
_MACE = "urn:mace:dir:attribute-def:"  # Shibboleth-style basic names

_GENERIC: dict[str, tuple[str, ...]] = {
    "subject": (),  # SAML NameID / OIDC sub
    "user_name": (
        "preferred_username",
        "email",
        "mail",
        _XMLSOAP + "emailaddress",
        _OID_MAIL,
        _MACE + "email",
        _MACE + "mail",
    ),
    "email": (
        "email",
        "mail",
        "Email",
        _XMLSOAP + "emailaddress",
        _OID_MAIL,
        _MACE + "email",
        _MACE + "mail",
    ),
    "given_name": (
        "given_name",
        "firstName",
        "givenName",
        _XMLSOAP + "givenname",
        _OID_GIVEN,
        _MACE + "givenName",
    ),
    "family_name": (
        "family_name",
        "lastName",
        "surname",
        "sn",
        _XMLSOAP + "surname",
        _OID_SURNAME,
        _MACE + "sn",
        _MACE + "surname",
    ),
    "display_name": (
        "name",
        "displayName",
        _MS + "displayname",
        _OID_DISPLAY,
        _MACE + "displayName",
    ),
    "groups": ("groups", "memberOf", "Group", _MS_GROUPS, _MACE + "isMemberOf"),
}

PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "generic": _GENERIC,
    # Okta: attribute statements as its SAML app wizard suggests them; OIDC standard claims.
    "okta": {
        **_GENERIC,
        "user_name": ("preferred_username", "email", "login"),
        "email": ("email",),
        "given_name": ("firstName", "given_name"),
        "family_name": ("lastName", "family_name"),
        "groups": ("groups",),
    },
    # Entra ID: WS-Federation claim URIs; groups are object ids unless the app emits names.
    "entra": {
        **_GENERIC,
        "subject": (),
        "user_name": (_XMLSOAP + "name", "preferred_username", "upn", _XMLSOAP + "emailaddress"),
        "email": (_XMLSOAP + "emailaddress", "email"),
        "given_name": (_XMLSOAP + "givenname", "given_name"),
        "family_name": (_XMLSOAP + "surname", "family_name"),
        "display_name": (_MS + "displayname", "name"),
        "groups": (_MS_GROUPS, "groups"),
    },
    # Google Workspace: NameID is the primary e-mail; attribute names are the admin's choice,
    # these are the ones Google's own guides use.
    "google": {
        **_GENERIC,
        "email": ("email", "emailAddress", "Email"),
        "given_name": ("firstName", "given_name", "FirstName"),
        "family_name": ("lastName", "family_name", "LastName"),
        "groups": ("groups", "Groups"),
    },
    # OneLogin: its SAML connector's "User.*" parameters; memberOf for groups.
    "onelogin": {
        **_GENERIC,
        "user_name": ("User.email", "email", "preferred_username"),
        "email": ("User.email", "email"),
        "given_name": ("User.FirstName", "given_name"),
        "family_name": ("User.LastName", "family_name"),
        "groups": ("memberOf", "groups"),
    },
    # JumpCloud: lower-case attribute names and memberOf.
    "jumpcloud": {
        **_GENERIC,
        "email": ("email",),
        "given_name": ("firstname", "given_name"),
        "family_name": ("lastname", "family_name"),
        "groups": ("memberOf", "groups"),
    },
    # ADFS: claim rules emitting the standard claim URIs (UPN, e-mail, names, group SIDs/names).
    "adfs": {
        **_GENERIC,
        "user_name": (_XMLSOAP + "upn", _XMLSOAP + "emailaddress", _XMLSOAP + "name"),
        "email": (_XMLSOAP + "emailaddress",),
        "given_name": (_XMLSOAP + "givenname",),
        "family_name": (_XMLSOAP + "surname",),
        "display_name": (_XMLSOAP + "name",),
        "groups": ("http://schemas.xmlsoap.org/claims/Group", _MS_GROUPS),
    },
    # Keycloak: user-property mappers (or X.500 OIDs), a group-list mapper named "groups".
    "keycloak": {
        **_GENERIC,
        "user_name": ("preferred_username", "username", "email", _OID_MAIL),
        "email": ("email", _OID_MAIL),
        "given_name": ("firstName", "given_name", _OID_GIVEN),
        "family_name": ("lastName", "family_name", _OID_SURNAME),
        "groups": ("groups", "Role", "member"),
    },
}


class MappingError(Exception):
    """The assertion lacks what the mapping needs (a user name)."""


@dataclass(frozen=True)
class MappedUser:
    """A person read from an assertion or ID token."""

    subject: str
    attributes: UserAttributes
    groups: tuple[str, ...] | None
    link_keys: tuple[LinkKey, ...] = ()


def resolve(mapping: str | Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The attribute names to try for each field."""
    if isinstance(mapping, str):
        if mapping not in PRESETS:
            raise MappingError(f"unknown attribute mapping preset {mapping!r}")
        return dict(PRESETS[mapping])
    preset = resolve(str(mapping.get("preset", "generic")))
    for name in FIELDS:
        custom = mapping.get(name)
        if isinstance(custom, str):
            custom = [custom]
        if isinstance(custom, Sequence):
            preset[name] = tuple(str(c) for c in custom) + preset[name]
    return preset


def _values(source: Mapping[str, Any], names: Sequence[str]) -> list[str] | None:
    for name in names:
        if name in source:
            raw = source[name]
            items = raw if isinstance(raw, list | tuple) else [raw]
            values = [str(v).strip() for v in items if v is not None and str(v).strip()]
            return values
    return None


def _first(source: Mapping[str, Any], names: Sequence[str]) -> str | None:
    values = _values(source, names)
    return values[0][:512] if values else None


LinkMatch = Literal["user_name", "external_id"]


def _link_rule(mapping: str | Mapping[str, Any]) -> tuple[str, LinkMatch] | None:
    """The admin's explicit link attribute and what it matches, if the mapping names one."""
    if isinstance(mapping, str) or mapping.get("link") is None:
        return None
    rule = mapping["link"]
    if not isinstance(rule, Mapping) or not isinstance(rule.get("attribute"), str):
        raise MappingError('the mapping\'s "link" needs an "attribute" (a name, or "subject")')
    match = rule.get("match", "user_name")
    if match == "user_name" or match == "external_id":
        return str(rule["attribute"]), match
    raise MappingError('the mapping\'s "link" matches "user_name" or "external_id"')


def check_mapping(mapping: str | Mapping[str, Any]) -> None:
    """Raise :class:`MappingError` unless the mapping is usable (preset, fields, ``link``)."""
    resolve(mapping)
    _link_rule(mapping)


def _admin_key(
    claims: Mapping[str, Any], subject: str, mapping: str | Mapping[str, Any]
) -> list[LinkKey]:
    rule = _link_rule(mapping)
    if rule is None:
        return []
    attribute, match = rule
    value = subject if attribute == "subject" else _first(claims, (attribute,))
    if not value:
        return []
    return [LinkKey(value=value[:512], match=match, basis=f"mapping:{attribute}"[:128])]


def saml_link_keys(
    claims: Mapping[str, Any],
    *,
    name_id: str,
    name_id_format: str | None,
    mapping: str | Mapping[str, Any],
) -> tuple[LinkKey, ...]:
    """The verified keys of a SAML login: the admin's link attribute, then the NameID when its
    format is persistent or e-mail. Attribute statements are never keys on their own."""
    keys = _admin_key(claims, name_id, mapping)
    kind = LINKING_NAME_ID_FORMATS.get(name_id_format or "")
    if kind is not None and name_id.strip():
        keys.append(
            LinkKey(
                value=name_id.strip()[:512],
                verified_email=kind == "email",
                basis=f"saml-nameid:{kind}",
            )
        )
    return tuple(keys)


def _true(value: Any) -> bool:
    # Some providers send booleans as strings ("true"); anything else is not a yes.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def oidc_link_keys(
    claims: Mapping[str, Any], *, issuer: str, mapping: str | Mapping[str, Any]
) -> tuple[LinkKey, ...]:
    """The verified keys of an OIDC login: the admin's link attribute, then ``email`` when the
    provider says it is verified (OIDC Core §5.1 ``email_verified``; Entra ID: ``xms_edov``).

    OIDC Core §5.7: only ``iss`` + ``sub`` identify the person; ``email`` and
    ``preferred_username`` may change and are not unique, so they never link unverified.
    """
    keys = _admin_key(claims, str(claims.get("sub", "")), mapping)
    email = claims.get("email")
    if isinstance(email, str) and email.strip():
        entra = (urlsplit(issuer).hostname or "") in ENTRA_HOSTS
        if entra:
            # email_verified, when Entra sends it at all, does not cover the domain owner.
            verified = _true(claims.get("xms_edov"))
            basis = "entra:xms_edov"
        else:
            verified = _true(claims.get("email_verified"))
            basis = "oidc:email_verified"
        if verified:
            keys.append(LinkKey(value=email.strip()[:512], verified_email=True, basis=basis))
    return tuple(keys)


def map_user(
    claims: Mapping[str, Any],
    *,
    subject: str,
    mapping: str | Mapping[str, Any],
    link_keys: tuple[LinkKey, ...] = (),
) -> MappedUser:
    """Read the person from ``claims`` (attribute name to value or values).

    ``subject`` is the protocol's subject (NameID, ``sub``), used unless the mapping names an
    attribute for it (Entra's object id, for instance). ``link_keys`` come from
    :func:`saml_link_keys` or :func:`oidc_link_keys` and pass through unchanged.
    """
    fields = resolve(mapping)
    subject = _first(claims, fields["subject"]) or subject
    email = _first(claims, fields["email"])
    user_name = _first(claims, fields["user_name"]) or email or subject
    if not user_name:
        raise MappingError("the identity provider sent no user name")
    groups = _values(claims, fields["groups"])
    try:
        attributes = UserAttributes(
            user_name=user_name,
            given_name=_first(claims, fields["given_name"]),
            family_name=_first(claims, fields["family_name"]),
            display_name=_first(claims, fields["display_name"]),
            emails=(Email(value=email, type="work", primary=True),) if email else (),
        )
    except ValidationError as exc:
        # The shared contract's rules (roster_shared.events.text): a value the user-store
        # could not store is refused here, before anything is published.
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MappingError(
            f"the identity provider sent an unusable {where}: {first['msg']}"
        ) from exc
    return MappedUser(
        subject=subject,
        attributes=attributes,
        groups=tuple(g[:512] for g in groups[:1000]) if groups is not None else None,
        link_keys=link_keys,
    )
