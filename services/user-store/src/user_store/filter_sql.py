"""The SCIM filter tree (``roster_shared.filters``) compiled to SQLAlchemy expressions.

Clause by clause: values are always bound parameters and LIKE patterns are escaped, so no filter
text ever becomes SQL text. Attribute names are SCIM's, matched case-insensitively (RFC 7644
§3.4.2.2); string comparisons follow each attribute's caseExact characteristic (RFC 7643). Each
resource's attribute map also says which attributes may be sorted on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roster_shared.filters import And, Compare, Expr, Has, Not, Or, Present, shape
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, true
from sqlmodel import col

from user_store.errors import InvalidFilter
from user_store.identity import name_key
from user_store.tables import GroupRow, MembershipRow, UserEmailRow, UserRow

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user:"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:group:"


MAX_FILTER_DEPTH = 20
"""Operators (and, or, not, has) on one path of a filter tree. The internal API is a trust boundary
of its own and does not rely on the scim-api's parser (16 levels) to bound its recursion; and
SQLite's parser overflows its stack near 28 levels of the parentheses this compiles to."""
MAX_FILTER_NODES = 512
"""Nodes of one filter tree: each becomes SQL, and the databases bound expression size
(SQLite's expression depth, both databases' bound parameters)."""


def check_filter_size(expr: Expr) -> None:
    """Refuse a tree too deep or too large before anything recurses over it."""
    depth, nodes = shape(expr)
    if nodes > MAX_FILTER_NODES:
        raise InvalidFilter(f"the filter has more than {MAX_FILTER_NODES} nodes")
    if depth > MAX_FILTER_DEPTH:
        raise InvalidFilter(f"the filter nests deeper than {MAX_FILTER_DEPTH} levels")


@dataclass(frozen=True)
class Attr:
    """How one SCIM attribute maps to a column."""

    column: Any
    kind: str  # "ci" case-insensitive text, "ce" case-exact text, "key" name_key column,
    #            "bool", "datetime"
    sortable: bool = True


@dataclass(frozen=True)
class Multi:
    """A multi-valued attribute stored in a child table."""

    table: Any
    parent_key: Any
    attrs: dict[str, Attr]
    default: str  # the sub-attribute a bare path ("emails") compares on


def _c(column: Any) -> Any:
    return column


USER_ATTRS: dict[str, Attr] = {
    "id": Attr(_c(UserRow.id), "ce"),
    "username": Attr(_c(UserRow.user_name_key), "key"),
    "externalid": Attr(_c(UserRow.external_id), "ce"),
    "active": Attr(_c(UserRow.active), "bool"),
    "displayname": Attr(_c(UserRow.display_name), "ci"),
    "name.givenname": Attr(_c(UserRow.given_name), "ci"),
    "name.familyname": Attr(_c(UserRow.family_name), "ci"),
    "meta.created": Attr(_c(UserRow.created_at), "datetime"),
    "meta.lastmodified": Attr(_c(UserRow.updated_at), "datetime"),
}

ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _extra(*path: str, kind: str = "ci") -> Attr:
    """A string kept in the user's ``extra`` JSON (scim-api stores it under its canonical
    SCIM name), read with the database's JSON path operator; filterable, not sortable."""
    return Attr(col(UserRow.extra)[path].as_string(), kind, sortable=False)


for _name in ("title", "nickName", "userType", "preferredLanguage", "locale", "timezone"):
    USER_ATTRS[_name.lower()] = _extra(_name)
USER_ATTRS["profileurl"] = _extra("profileUrl", kind="ce")
for _name in ("formatted", "middleName", "honorificPrefix", "honorificSuffix"):
    USER_ATTRS[f"name.{_name.lower()}"] = _extra("name", _name)
for _name in ("employeeNumber", "costCenter", "organization", "division", "department"):
    USER_ATTRS[f"{ENTERPRISE_URN}:{_name}".lower()] = _extra(ENTERPRISE_URN, _name)
USER_ATTRS[f"{ENTERPRISE_URN}:manager.value".lower()] = _extra(
    ENTERPRISE_URN, "manager", "value", kind="ce"
)

USER_MULTI: dict[str, Multi] = {
    "emails": Multi(
        UserEmailRow,
        _c(UserEmailRow.user_id),
        {
            "value": Attr(_c(UserEmailRow.value_key), "key"),
            "type": Attr(_c(UserEmailRow.type), "ci"),
            "primary": Attr(_c(UserEmailRow.primary), "bool"),
        },
        "value",
    ),
    "groups": Multi(
        MembershipRow,
        _c(MembershipRow.user_id),
        {"value": Attr(_c(MembershipRow.group_id), "ce")},
        "value",
    ),
}
GROUP_ATTRS: dict[str, Attr] = {
    "id": Attr(_c(GroupRow.id), "ce"),
    "displayname": Attr(_c(GroupRow.display_name_key), "key"),
    "externalid": Attr(_c(GroupRow.external_id), "ce"),
    "meta.created": Attr(_c(GroupRow.created_at), "datetime"),
    "meta.lastmodified": Attr(_c(GroupRow.updated_at), "datetime"),
}
GROUP_MULTI: dict[str, Multi] = {
    "members": Multi(
        MembershipRow,
        _c(MembershipRow.group_id),
        {"value": Attr(_c(MembershipRow.user_id), "ce")},
        "value",
    ),
}


def strip_urn(path: str, urn: str) -> str:
    """The attribute path lower-cased, without the resource's own schema URN."""
    lowered = path.lower()
    return lowered[len(urn) :] if lowered.startswith(urn) else lowered


def parse_datetime(value: Any) -> datetime:
    """An RFC 3339 date-time from a filter or a cursor."""
    if not isinstance(value, str):
        raise InvalidFilter(f"{value!r} is not a date-time")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidFilter(f"{value!r} is not an RFC 3339 date-time") from exc


def _compare(attr: Attr, op: str, value: Any, name: str) -> ColumnElement[bool]:
    column = attr.column
    if attr.kind == "bool":
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise InvalidFilter(f"{name} is boolean: only eq/ne with true or false")
        return column == value if op == "eq" else or_(column.is_(None), column != value)
    if attr.kind == "datetime":
        moment = parse_datetime(value)
        return _ordered(column, op, moment, name)
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        if op in ("eq", "ne") and value is None:
            return column.is_(None) if op == "eq" else column.is_not(None)  # type: ignore[no-any-return]
        raise InvalidFilter(f"{name} is a string attribute; compare it with a string")
    text = str(value)
    if attr.kind == "key":
        text = name_key(text)
    elif attr.kind == "ci":
        column = func.lower(column)
        text = text.lower()
    if op == "co":
        return column.contains(text, autoescape=True)  # type: ignore[no-any-return]
    if op == "sw":
        return column.startswith(text, autoescape=True)  # type: ignore[no-any-return]
    if op == "ew":
        return column.endswith(text, autoescape=True)  # type: ignore[no-any-return]
    return _ordered(column, op, text, name)


def _ordered(column: Any, op: str, value: Any, name: str) -> ColumnElement[bool]:
    match op:
        case "eq":
            return column == value  # type: ignore[no-any-return]
        case "ne":
            return or_(column.is_(None), column != value)
        case "gt":
            return column > value  # type: ignore[no-any-return]
        case "ge":
            return column >= value  # type: ignore[no-any-return]
        case "lt":
            return column < value  # type: ignore[no-any-return]
        case "le":
            return column <= value  # type: ignore[no-any-return]
    raise InvalidFilter(f"operator {op!r} does not apply to {name}")


def _present(attr: Attr) -> ColumnElement[bool]:
    if attr.kind in ("bool", "datetime"):
        return attr.column.is_not(None)  # type: ignore[no-any-return]
    return and_(attr.column.is_not(None), attr.column != "")


class FilterCompiler:
    """Compiles a filter tree against one resource's attribute map."""

    def __init__(
        self, attrs: dict[str, Attr], multi: dict[str, Multi], parent_id: Any, urn: str
    ) -> None:
        self.attrs = attrs
        self.multi = multi
        self.parent_id = parent_id
        self.urn = urn

    def compile(self, expr: Expr, depth: int = 0) -> ColumnElement[bool]:
        """SQL for ``expr``; raises :class:`InvalidFilter` for what the resource cannot do."""
        if depth > MAX_FILTER_DEPTH:
            raise InvalidFilter(f"the filter nests deeper than {MAX_FILTER_DEPTH} levels")
        match expr:
            case And(items=items):
                return and_(*(self.compile(item, depth + 1) for item in items))
            case Or(items=items):
                return or_(*(self.compile(item, depth + 1) for item in items))
            case Not(item=item):
                # SQL's NULL (an absent attribute) would make NOT unknown and drop the row;
                # in SCIM an absent attribute simply does not match, so its negation does.
                return not_(func.coalesce(self.compile(item, depth + 1), false()))
            case Has(attr=attr, where=where):
                multi = self._multi(attr)
                return self._exists(multi, self._sub(multi, where, attr, depth + 1))
            case Compare(attr=path, op=op, value=value):
                return self._leaf(path, lambda a, n: _compare(a, op, value, n))
            case Present(attr=path):
                return self._leaf(path, lambda a, _n: _present(a), present=True)
        raise InvalidFilter("unsupported filter")  # pragma: no cover

    def _multi(self, path: str) -> Multi:
        multi = self.multi.get(strip_urn(path, self.urn))
        if multi is None:
            raise InvalidFilter(f"{path!r} is not a multi-valued attribute that can be filtered")
        return multi

    def _exists(self, multi: Multi, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists().where(multi.parent_key == self.parent_id, condition)

    def _sub(self, multi: Multi, expr: Expr, parent: str, depth: int) -> ColumnElement[bool]:
        sub = FilterCompiler(multi.attrs, {}, None, "")
        return sub.compile(expr, depth)

    def _leaf(
        self, path: str, build: Callable[[Attr, str], ColumnElement[bool]], present: bool = False
    ) -> ColumnElement[bool]:
        name = strip_urn(path, self.urn)
        attr = self.attrs.get(name)
        if attr is not None:
            return build(attr, path)
        head, _, tail = name.partition(".")
        multi = self.multi.get(head)
        if multi is not None:
            sub = multi.attrs.get(tail or multi.default)
            if sub is None:
                raise InvalidFilter(f"unknown attribute {path!r}")
            if present and not tail:
                return self._exists(multi, true())
            return self._exists(multi, build(sub, path))
        raise InvalidFilter(f"unknown attribute {path!r}")


USER_FILTERS = FilterCompiler(USER_ATTRS, USER_MULTI, UserRow.id, USER_URN)
GROUP_FILTERS = FilterCompiler(GROUP_ATTRS, GROUP_MULTI, GroupRow.id, GROUP_URN)
