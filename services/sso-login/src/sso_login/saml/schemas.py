"""python3-saml's XML Schema validation with each XSD compiled once per thread.

The library parses and compiles the SAML protocol schema (and its imports) on every call of
``OneLogin_Saml2_XML.validate_xml``, which is most of its validation time. :func:`install`
replaces that function with one that validates against the same schema, compiled once per
thread (validation runs in a pool of threads, and a compiled schema is not shared between them);
the answers are the same.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import onelogin.saml2
from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

_schemas = threading.local()


def validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    """python3-saml's ``validate_xml`` with the XSD compiled once per thread."""
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    cache: dict[str, Any] = _schemas.__dict__.setdefault("compiled", {})
    compiled = cache.get(schema)
    if compiled is None:
        path = Path(onelogin.saml2.__file__).parent / "schemas" / schema
        with path.open("rb") as source:
            compiled = cache[schema] = etree.XMLSchema(etree.parse(source))
    if not compiled.validate(xml):
        return "invalid_xml"
    return xml


def install() -> None:
    """Make python3-saml validate with :func:`validate_xml` (idempotent)."""
    OneLogin_Saml2_XML.validate_xml = staticmethod(validate_xml)
