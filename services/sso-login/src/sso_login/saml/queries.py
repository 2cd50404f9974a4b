"""python3-saml's XPath queries, each compiled once per thread instead of on every call.

python3-saml asks everything it checks and reads of a response through
``OneLogin_Saml2_XML.query``, which calls ``element.xpath(expression, namespaces=...)``, and
lxml compiles the expression on every such call. One login's response asks 57 of them, the
same literal expressions each time: compiling was ~20 % of a response's checks, and more with
two validating threads sharing the GIL (``bench/sso_logins.py`` profile, issue 10). :func:`install`
replaces that one function with one that evaluates the same expression, with the same
namespaces and the same ``$tagid`` variable, on the same node — so the same nodes come back —
from an ``etree.XPath`` compiled once per thread (validation runs in a pool of threads, and a
compiled expression is not shared between them, as :mod:`.schemas` does with its XSDs).

Only python3-saml's own expressions are ever cached: they are literals, but for the metadata
parser's, which embeds the entity id an administrator asked for. So a thread keeps at most
:data:`LIMIT` of them, and an expression that does not compile is handed to lxml as before, to
fail as it always has.
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

LIMIT = 256
"""Compiled expressions kept per thread (python3-saml's literals are ~60)."""

_compiled = threading.local()
_original = OneLogin_Saml2_XML.query


def query(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> Any:
    """python3-saml's ``OneLogin_Saml2_XML.query``, with ``query`` compiled once per thread."""
    cache: dict[str, Any] = _compiled.__dict__.setdefault("expressions", {})
    expression = cache.get(query)
    if expression is None:
        if len(cache) >= LIMIT:
            return _original(dom, query, context, tagid)
        try:
            expression = etree.XPath(query, namespaces=OneLogin_Saml2_Constants.NSMAP)
        except etree.XPathError:
            return _original(dom, query, context, tagid)
        cache[query] = expression
    source = dom if context is None else context
    if tagid is None:
        return expression(source)
    return expression(source, tagid=tagid)


def install() -> None:
    """Make python3-saml query with :func:`query` (idempotent)."""
    OneLogin_Saml2_XML.query = staticmethod(query)
