"""The assertion consumer service's checks of one ``SAMLResponse`` (HTTP-POST binding), and what
a valid one says about the person.

python3-saml (strict) verifies the signature against the configured IdP certificates, counts
assertions and binds its queries to the signed element. The rest is ours, each a named check
below, run in this order: the size bound and the hardened parse (:mod:`.hardening`); the
signature allow-list (:mod:`.xmldsig`) before xmlsec does any signature, digest or transform
work, and again on a decrypted assertion; python3-saml's own validation; then Destination,
InResponseTo, Audience, the bearer SubjectConfirmation and the Conditions' time window, with our
skew. The assertion id replay cache is the caller's (it lives in the user-store).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from sso_login.connections import SamlConnection
from sso_login.saml.bindings import decode_post
from sso_login.saml.errors import SamlError
from sso_login.saml.hardening import NS, no_comments, precheck
from sso_login.saml.sp import SpKeys, SpUrls, onelogin_settings
from sso_login.saml.xmldsig import SignatureNotAllowed, check_signatures


@dataclass(frozen=True)
class SamlAssertion:
    """What a valid response says about the person."""

    issuer: str
    name_id: str
    name_id_format: str | None
    attributes: dict[str, list[str]]
    assertion_id: str
    not_on_or_after: datetime
    in_response_to: str | None
    session_index: str | None


def validate_response(
    encoded: str,
    *,
    urls: SpUrls,
    connection: SamlConnection,
    request_id: str | None,
    skew: timedelta,
    max_bytes: int,
    keys: SpKeys | None = None,
    now: datetime | None = None,
) -> SamlAssertion:
    """Check an ACS POST's ``SAMLResponse`` and read the assertion, or raise :class:`SamlError`."""
    now = now or datetime.now(UTC)
    xml = decode_post(encoded, max_bytes=max_bytes)
    if len(xml) > max_bytes:
        raise SamlError("message too large")
    root = precheck(xml)
    _check_signatures_allowed(root)
    response = _check_with_python3_saml(xml, encoded, urls, connection, request_id, keys)
    _check_destination(root, urls)
    in_response_to = _check_in_response_to(root, connection, request_id)
    _check_audience(response, urls)
    confirmed = _bearer_confirmation(response, urls, in_response_to, now, skew)
    _check_conditions(response, now, skew)
    return _read_assertion(response, connection, in_response_to, confirmed)


def _check_signatures_allowed(document: Any) -> None:
    """Every signature says only what a genuine IdP's does (:mod:`.xmldsig`)."""
    try:
        check_signatures(document)
    except SignatureNotAllowed as exc:
        raise SamlError(str(exc)) from exc


def _check_with_python3_saml(
    xml: bytes,
    encoded: str,
    urls: SpUrls,
    connection: SamlConnection,
    request_id: str | None,
    keys: SpKeys | None,
) -> OneLogin_Saml2_Response:
    """python3-saml's strict validation: signature against the IdP's certificates, issuer,
    time bounds (with its own skew; ours follows), and decryption of an encrypted assertion."""
    acs = urlsplit(urls.acs_url)
    request_data = {
        "https": "on" if acs.scheme == "https" else "off",
        "http_host": acs.netloc,
        "script_name": acs.path,
        "get_data": {},
        "post_data": {"SAMLResponse": encoded},
    }
    try:
        settings = onelogin_settings(urls, connection, keys)
        response = OneLogin_Saml2_Response(settings, base64.b64encode(xml).decode())
        if response.encrypted:
            # The decrypted assertion, checked as the plain one was, before its signature is:
            # python3-saml decrypts in its constructor and verifies in is_valid.
            no_comments(response.decrypted_document)
            _check_signatures_allowed(response.decrypted_document)
        response.is_valid(request_data, request_id=request_id, raise_exceptions=True)
    except SamlError:
        raise
    except Exception as exc:  # python3-saml raises its own and lxml's errors alike
        raise SamlError(f"python3-saml: {exc}") from exc
    return response


def _check_destination(root: Any, urls: SpUrls) -> None:
    """Destination: required and exact (python3-saml: optional, prefix match)."""
    if root.get("Destination") != urls.acs_url:
        raise SamlError(f"Destination {root.get('Destination')!r} is not our ACS URL")


def _check_in_response_to(
    root: Any, connection: SamlConnection, request_id: str | None
) -> str | None:
    """InResponseTo: the request bound to this browser, or an allowed unsolicited response
    (which then must not claim a request)."""
    in_response_to: str | None = root.get("InResponseTo")
    if request_id is None:
        if not connection.allow_idp_initiated:
            raise SamlError("unsolicited response and IdP-initiated login is off")
        if in_response_to is not None:
            raise SamlError("response to a request this browser did not make")
    elif in_response_to != request_id:
        raise SamlError("InResponseTo does not match this browser's request")
    return in_response_to


def _check_audience(response: OneLogin_Saml2_Response, urls: SpUrls) -> None:
    """Audience: required, ours — in every AudienceRestriction (SAML core 2.5.1.4: each one
    must be satisfied; python3-saml flattens them and only checks when present)."""
    restrictions = response._query_assertion("/saml:Conditions/saml:AudienceRestriction")
    if not restrictions:
        raise SamlError("no AudienceRestriction")
    for restriction in restrictions:
        audiences = [
            (a.text or "").strip() for a in restriction.findall("saml:Audience", namespaces=NS)
        ]
        if urls.entity_id not in audiences:
            raise SamlError(f"audience {audiences!r} is not ours")


def _bearer_confirmation(
    response: OneLogin_Saml2_Response,
    urls: SpUrls,
    in_response_to: str | None,
    now: datetime,
    skew: timedelta,
) -> datetime:
    """The ``NotOnOrAfter`` of a bearer SubjectConfirmation for exactly our ACS URL, with the
    response's InResponseTo, within its time window (``NotOnOrAfter`` required)."""
    for node in response._query_assertion("/saml:Subject/saml:SubjectConfirmation"):
        if node.get("Method") != C.CM_BEARER:
            continue
        data = node.find("saml:SubjectConfirmationData", namespaces=NS)
        if data is None or data.get("Recipient") != urls.acs_url:
            continue
        if data.get("InResponseTo") != in_response_to:
            continue
        expires = _time(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
        if now >= expires + skew:
            continue
        if data.get("NotBefore") and now + skew < _time(data.get("NotBefore"), "NotBefore"):
            continue
        return expires
    raise SamlError("no bearer SubjectConfirmation for our ACS URL within its time window")


def _check_conditions(response: OneLogin_Saml2_Response, now: datetime, skew: timedelta) -> None:
    """Conditions' NotBefore and NotOnOrAfter with our skew (python3-saml allows 300 s)."""
    for conditions in response._query_assertion("/saml:Conditions"):
        if conditions.get("NotBefore") and now + skew < _time(conditions.get("NotBefore"), "x"):
            raise SamlError("assertion not yet valid")
        if (
            conditions.get("NotOnOrAfter")
            and now >= _time(conditions.get("NotOnOrAfter"), "x") + skew
        ):
            raise SamlError("assertion expired")


def _read_assertion(
    response: OneLogin_Saml2_Response,
    connection: SamlConnection,
    in_response_to: str | None,
    confirmed: datetime,
) -> SamlAssertion:
    """What the valid assertion says; an ID and a NameID are required."""
    assertion_id = response.get_assertion_id()
    if not assertion_id:
        raise SamlError("assertion has no ID")
    issuers = response.get_issuers()
    name_id = response.get_nameid()
    if not name_id:
        raise SamlError("no NameID")
    return SamlAssertion(
        issuer=issuers[0] if issuers else connection.idp_entity_id,
        name_id=name_id,
        name_id_format=response.get_nameid_format(),
        attributes={k: [str(v) for v in vs] for k, vs in response.get_attributes().items()},
        assertion_id=assertion_id,
        not_on_or_after=confirmed,
        in_response_to=in_response_to,
        session_index=response.get_session_index(),
    )


def _time(value: str | None, what: str) -> datetime:
    if not value:
        raise SamlError(f"{what} is required")
    try:
        return datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(value), UTC)
    except (ValueError, TypeError) as exc:
        raise SamlError(f"{what} is not a valid time") from exc
