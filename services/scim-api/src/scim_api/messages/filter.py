"""Filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2): text to canonical names and trees.

One small recursive-descent parser serves list filters, PATCH paths and the value filters inside
them. Attribute names resolve against the resource's schema
(:func:`scim_api.resources.schemas.resolve`). Unknown attributes and bad syntax raise the
caller's error class (400 ``invalidFilter`` for filters, ``invalidPath`` for PATCH paths).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from roster_shared.filters import And, Compare, Expr, Has, Not, Or, Present, Scalar, shape

from scim_api.errors import InvalidFilter, InvalidPath, ScimError
from scim_api.resources.schemas import AttrDef, Resolved, ResourceSchema, resolve

MAX_FILTER_LENGTH = 4096
MAX_FILTER_DEPTH = 16
"""Nesting of ``not``, ``(...)`` and ``[...]``; checked before each recursive step, so no filter
text can exhaust the parser's (or the user-store compiler's) stack."""
MAX_FILTER_TERMS = 100
"""Attribute expressions in one filter: every one is an SQL condition (and a subquery for a
multi-valued attribute), so this bounds the work one request can ask of the database."""
OPERATORS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<punct>[()\[\]])
      | (?P<word>[A-Za-z0-9_$:.\-+]+)
    )""",
    re.VERBOSE,
)


def _tokens(text: str, error: type[ScimError]) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise error(f"unexpected character at position {position} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, schema: ResourceSchema, text: str, error: type[ScimError]) -> None:
        self.schema = schema
        self.text = text
        self.error = error
        self.tokens = _tokens(text, error)
        self.at = 0
        self.terms = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.error(f"the filter {self.text!r} ends too early")
        self.at += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.at += 1
            return token[1].lower()
        return None

    def expect(self, punct: str) -> None:
        token = self.take()
        if token != ("punct", punct):
            raise self.error(f"expected {punct!r} but found {token[1]!r} in {self.text!r}")

    def done(self) -> None:
        token = self.peek()
        if token is not None:
            raise self.error(f"unexpected {token[1]!r} in {self.text!r}")

    def deeper(self, depth: int) -> int:
        if depth + 1 > MAX_FILTER_DEPTH:
            raise self.error(
                f"the filter nests deeper than {MAX_FILTER_DEPTH} levels of not, () and []"
            )
        return depth + 1

    # filter := or
    def or_(self, scope: AttrDef | None, depth: int) -> Expr:
        items = [self.and_(scope, depth)]
        while self.keyword("or"):
            items.append(self.and_(scope, depth))
        return items[0] if len(items) == 1 else Or(items=tuple(items))

    def and_(self, scope: AttrDef | None, depth: int) -> Expr:
        items = [self.unary(scope, depth)]
        while self.keyword("and"):
            items.append(self.unary(scope, depth))
        return items[0] if len(items) == 1 else And(items=tuple(items))

    def unary(self, scope: AttrDef | None, depth: int) -> Expr:
        if self.keyword("not"):
            return Not(item=self.unary(scope, self.deeper(depth)))
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.or_(scope, self.deeper(depth))
            self.expect(")")
            return inner
        return self.atom(scope, depth)

    def path(self, scope: AttrDef | None) -> Resolved:
        kind, text = self.take()
        if kind != "word":
            raise self.error(f"expected an attribute name but found {text!r} in {self.text!r}")
        if scope is not None:
            sub = scope.child(text)
            if sub is None:
                raise self.error(f"unknown attribute {scope.name}.{text} in {self.text!r}")
            return Resolved(sub)
        return resolve(self.schema, text, self.error)

    def atom(self, scope: AttrDef | None, depth: int) -> Expr:
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            raise self.error(f"the filter has more than {MAX_FILTER_TERMS} attribute expressions")
        resolved = self.path(scope)
        if self.peek() == ("punct", "["):
            if scope is not None or resolved.sub is not None or not resolved.attr.complex:
                raise self.error(f"{resolved.name} cannot take a [filter] in {self.text!r}")
            self.take()
            inner = self.or_(resolved.attr, self.deeper(depth))
            self.expect("]")
            token = self.peek()
            if token and token[0] == "word" and token[1].startswith("."):
                # Lenient: emails[type eq "work"].value eq "x" (Entra's matching form).
                self.take()
                sub = resolved.attr.child(token[1][1:])
                if sub is None:
                    raise self.error(f"unknown attribute {resolved.name}{token[1]}")
                inner = And(items=(inner, self.comparison(Resolved(sub), sub.name)))
            return Has(attr=resolved.name, where=inner)
        return self.comparison(resolved, resolved.name)

    def comparison(self, resolved: Resolved, name: str) -> Expr:
        kind, op = self.take()
        op = op.lower()
        if kind != "word" or (op not in OPERATORS and op != "pr"):
            raise self.error(f"expected an operator after {name} but found {op!r}")
        if op == "pr":
            return Present(attr=name)
        leaf = resolved.leaf
        if leaf.complex and not leaf.multi:
            raise self.error(f"{name} is complex: compare one of its sub-attributes")
        value = self.value(leaf)
        if op in ("co", "sw", "ew") and not isinstance(value, str):
            raise self.error(f"{op} needs a string value")
        if leaf.type == "boolean" and (op not in ("eq", "ne") or not isinstance(value, bool)):
            raise self.error(f"{name} is boolean: use eq or ne with true or false")
        return Compare(attr=name, op=op, value=value)

    def value(self, leaf: AttrDef) -> Scalar:
        kind, text = self.take()
        if kind == "string":
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise self.error(f"bad string literal {text}") from exc
            if leaf.type == "boolean" and value.lower() in ("true", "false"):
                return bool(value.lower() == "true")
            return str(value)
        if kind != "word":
            raise self.error(f"expected a value but found {text!r}")
        if leaf.type == "dateTime" and _DATETIME.fullmatch(text):
            # Lenient: an unquoted date-time (meta.created gt 2015-10-10T14:38:21Z), as some
            # clients write it; it can only mean the moment (docs/interop.md).
            return text
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if re.fullmatch(r"-?[0-9]+", text):
            return int(text)  # exact, however long (the filter's length bounds the digits)
        try:
            number = float(text)
        except ValueError:
            raise self.error(
                f"expected a value (a quoted string, number, true, false or null) "
                f"but found {text!r}"
            ) from None
        if not math.isfinite(number):
            # JSON has no infinity or NaN: it would reach the user-store as null ("absent").
            raise self.error(f"{text} is not a finite number")
        return number


def parse_filter(schema: ResourceSchema, text: str) -> Expr:
    """An RFC 7644 filter as the user-store's tree; 400 ``invalidFilter`` when it is not one."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise InvalidFilter("the filter is empty")
    parser = _Parser(schema, text, InvalidFilter)
    expr = parser.or_(None, 0)
    parser.done()
    # ``a or b and (c or d and (...))`` nests two operators per parenthesis: the tree the
    # user-store receives is held to the same number of levels as the text.
    if shape(expr)[0] > MAX_FILTER_DEPTH:
        raise InvalidFilter(f"the filter nests deeper than {MAX_FILTER_DEPTH} levels of operators")
    return expr


@dataclass(frozen=True)
class PatchPath:
    """``attr[valueFilter].sub`` (RFC 7644 §3.5.2 ``PATH``)."""

    target: Resolved  # attribute (and sub-attribute when no value filter)
    where: Expr | None = None  # value filter over the multi-valued attribute's elements
    sub: AttrDef | None = None  # sub-attribute after a value filter


def parse_patch_path(schema: ResourceSchema, text: str) -> PatchPath:
    """A PATCH ``path``; 400 ``invalidPath`` when it is not one."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidPath("the path is too long")
    start = text.find("[")
    if start < 0:
        return PatchPath(resolve(schema, text.strip(), InvalidPath))
    end = text.rfind("]")
    if end < start:
        raise InvalidPath(f"unbalanced brackets in path {text!r}")
    target = resolve(schema, text[:start].strip(), InvalidPath)
    if target.sub is not None or not target.attr.multi:
        raise InvalidPath(f"{target.name} is not multi-valued: it cannot take a [filter]")
    parser = _Parser(schema, text[start + 1 : end], InvalidPath)
    where = parser.or_(target.attr, parser.deeper(0))
    parser.done()
    rest = text[end + 1 :].strip()
    sub = None
    if rest:
        if not rest.startswith("."):
            raise InvalidPath(f"unexpected {rest!r} after the filter in path {text!r}")
        sub = target.attr.child(rest[1:])
        if sub is None:
            raise InvalidPath(f"unknown attribute {target.name}{rest}")
    return PatchPath(target, where, sub)
