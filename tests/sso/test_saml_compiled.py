"""What sso-login keeps compiled across logins answers exactly what python3-saml's own calls do:
its XPath queries (``sso_login.saml.queries``) and its settings (``onelogin_settings``)."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from sso_login import saml
from sso_login.saml import queries

from tests.sso.saml_idp import Keys, SamlIdP


def _answer(result: Any) -> Any:
    """An XPath result in comparable form: nodes by their path in their document."""
    if isinstance(result, list):
        return [
            (item.getroottree().getpath(item), etree.tostring(item))
            if isinstance(item, etree._Element)
            else str(item)
            for item in result
        ]
    return result


@pytest.fixture
def signed(tmp_path: Path) -> tuple[saml.SpUrls, Any, list[str]]:
    urls = saml.sp_urls("http://127.0.0.1:8000", "acme")
    idp = SamlIdP(tmp_path, [saml.sp_metadata(urls)])
    connection = saml.parse_idp_metadata(idp.metadata()).model_copy(
        update={"allow_idp_initiated": True}
    )
    responses = [
        base64.b64encode(
            idp.response_xml(
                sp_entity_id=urls.entity_id,
                acs_url=urls.acs_url,
                name_id=f"user{i}@example.com",
                in_response_to=None,
                attributes={"mail": [f"user{i}@example.com"], "givenName": [f"U{i}"]},
                sign_response=i % 2 == 1,
            )
        ).decode()
        for i in range(4)
    ]
    return urls, connection, responses


def _validate(urls: saml.SpUrls, connection: Any, encoded: str) -> saml.SamlAssertion:
    return saml.validate_response(
        encoded,
        urls=urls,
        connection=connection,
        request_id=None,
        skew=timedelta(minutes=2),
        max_bytes=200_000,
    )


def test_every_query_of_a_validation_answers_as_lxml_does(
    signed: tuple[saml.SpUrls, Any, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each query python3-saml asks while validating a response (signed assertion, and signed
    assertion in a signed response), asked again both ways: the compiled one and lxml's own
    ``element.xpath`` (what python3-saml calls) give the same nodes."""
    urls, connection, responses = signed
    asked: list[tuple[Any, str, Any, str | None]] = []

    def recording(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> Any:
        asked.append((dom, query, context, tagid))
        return queries.query(dom, query, context, tagid)

    assert OneLogin_Saml2_XML.query is queries.query  # installed on the package's import
    monkeypatch.setattr(OneLogin_Saml2_XML, "query", staticmethod(recording))
    for encoded in responses[:2]:
        assertion = _validate(urls, connection, encoded)
        assert assertion.name_id.endswith("@example.com")
    assert len({query for _, query, _, _ in asked}) >= 15
    assert any(tagid for *_, tagid in asked)  # the ``$tagid`` form is among them
    for dom, query, context, tagid in asked:
        assert _answer(queries.query(dom, query, context, tagid)) == _answer(
            queries._original(dom, query, context, tagid)
        ), query


def test_a_thread_keeps_at_most_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expressions past the limit (the metadata parser's embed an entity id) are answered, and
    not kept."""
    monkeypatch.setattr(queries, "LIMIT", 3)
    document = etree.fromstring(
        b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        b'<md:EntityDescriptor entityID="a"/><md:EntityDescriptor entityID="b"/>'
        b"</md:EntitiesDescriptor>"
    )

    def in_a_thread() -> tuple[list[int], int]:
        found = [
            len(queries.query(document, f"//md:EntityDescriptor[@entityID='{name}']"))
            for name in ("a", "b", "c", "a", "b", "x", "y")
        ]
        return found, len(queries._compiled.__dict__.get("expressions", {}))

    outcome: list[tuple[list[int], int]] = []
    worker = threading.Thread(target=lambda: outcome.append(in_a_thread()))
    worker.start()
    worker.join()
    assert outcome == [([1, 1, 0, 1, 1, 0, 0], 3)]


def test_an_expression_that_does_not_compile_fails_as_lxml_makes_it() -> None:
    document = etree.fromstring(b"<a/>")
    with pytest.raises(etree.XPathEvalError) as compiled:
        queries.query(document, "//md:EntityDescriptor[@entityID='it's']")
    with pytest.raises(etree.XPathEvalError) as plain:
        document.xpath("//md:EntityDescriptor[@entityID='it's']")
    assert str(compiled.value) == str(plain.value)


def test_settings_are_remembered_by_everything_they_are_made_of(
    signed: tuple[saml.SpUrls, Any, list[str]], tmp_path: Path
) -> None:
    """The same connection gets the same settings; a connection with another certificate (a
    rollover, a new IdP) gets its own, which check against that certificate only."""
    urls, connection, responses = signed
    same = connection.model_copy()
    assert saml.onelogin_settings(urls, same) is saml.onelogin_settings(urls, connection)
    other = Keys.make(tmp_path / "other", "other")
    rotated = connection.model_copy(update={"signing_certs": (other.cert_b64,)})
    settings = saml.onelogin_settings(urls, rotated)
    assert settings is not saml.onelogin_settings(urls, connection)
    assert (
        settings.get_idp_data()["x509certMulti"]["signing"]
        != (saml.onelogin_settings(urls, connection).get_idp_data()["x509certMulti"]["signing"])
    )
    _validate(urls, connection, responses[0])
    with pytest.raises(saml.SamlError, match="Signature validation failed"):
        _validate(urls, rotated, responses[0])
