"""The console's search box: a SCIM filter (RFC 7644 §3.4.2.2), or plain words.

The full filter grammar lives in scim-api (services import no other service); operators type
simple filters — ``userName sw "j"``, ``active eq false and emails.value co "@example.com"`` —
so this reads ``attr op value`` terms joined by ``and`` / ``or`` (``and`` binds tighter), and
``attr pr``. Anything else is plain words, searched in userName, displayName and e-mails. The
user-store checks the attribute names and answers a clear error for one it does not know.
"""

from __future__ import annotations

import json
import re

from roster_shared.filters import And, Compare, Expr, Has, Or, Present, Scalar

OPS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}
_TERM = re.compile(
    r"\s*(?P<attr>[A-Za-z][A-Za-z0-9_.]*)\s+(?:(?P<pr>pr)\b|(?P<op>[a-z]{2})\s+"
    r'(?P<value>"(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?))\s*',
    re.IGNORECASE,
)
_JOIN = re.compile(r"\s*(and|or)\s+", re.IGNORECASE)
MAX_TERMS = 10


class SearchError(ValueError):
    """The text looks like a filter but is not one this box reads."""


def _scalar(text: str) -> Scalar:
    value: Scalar = json.loads(text.lower() if text.lower() in ("true", "false", "null") else text)
    return value


def _term(attr: str, op: str | None, value: str | None) -> Expr:
    if op is None:
        return Present(attr=attr)
    if op.lower() not in OPS:
        raise SearchError(f"{op!r} is not a SCIM operator (one of {', '.join(sorted(OPS))})")
    parent, _, sub = attr.partition(".")
    compare = Compare(attr=sub or attr, op=op.lower(), value=_scalar(value or "null"))
    if parent.lower() in ("emails", "members", "groups") and sub:
        return Has(attr=parent, where=compare)
    return Compare(attr=attr, op=op.lower(), value=compare.value)


def parse(text: str, *, words_in: tuple[str, ...] = ("userName", "displayName")) -> Expr | None:
    """The filter ``text`` means; None for an empty box."""
    text = text.strip()
    if not text:
        return None
    if len(text) > 512:
        raise SearchError("the search is too long (512 characters at most)")
    first = _TERM.match(text)
    if first is None:
        if '"' in text or any(f" {op} " in f" {text.lower()} " for op in OPS):
            raise SearchError(
                'this is not a filter this box reads: write attribute operator "value", '
                'e.g. userName sw "j" (or plain words)'
            )
        terms: list[Expr] = [Compare(attr=a, op="co", value=text) for a in words_in]
        if "userName" in words_in:
            terms.append(Has(attr="emails", where=Compare(attr="value", op="co", value=text)))
        return Or(items=tuple(terms))
    groups: list[list[Expr]] = [[_term(first["attr"], first["op"], first["value"])]]
    position = first.end()
    while position < len(text):
        join = _JOIN.match(text, position)
        term = _TERM.match(text, join.end()) if join else None
        if join is None or term is None:
            raise SearchError(
                f"cannot read the filter from position {position}: {text[position:][:40]!r}"
            )
        if len(groups) + sum(len(g) for g in groups) > MAX_TERMS:
            raise SearchError(f"at most {MAX_TERMS} terms")
        expr = _term(term["attr"], term["op"], term["value"])
        if join.group(1).lower() == "and":
            groups[-1].append(expr)
        else:
            groups.append([expr])
        position = term.end()
    ands: list[Expr] = [g[0] if len(g) == 1 else And(items=tuple(g)) for g in groups]
    return ands[0] if len(ands) == 1 else Or(items=tuple(ands))
