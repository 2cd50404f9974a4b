"""The SCIM filter tree (``roster_shared.filters``) compiled to SQLAlchemy expressions.

Clause by clause: values are always bound parameters and LIKE patterns are escaped, so no filter
text ever becomes SQL text. Attribute names are SCIM's, matched case-insensitively (RFC 7644
§3.4.2.2); string comparisons follow each attribute's caseExact characteristic (RFC 7643). Each
resource's attribute map also says which attributes may be sorted on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from roster_shared.filters import (
    USER_URN as USER_URN,
)
from roster_shared.filters import (
    And,
    Compare,
    Expr,
    Has,
    Not,
    Or,
    Present,
    shape,
)
from roster_shared.filters import (
    strip_urn as strip_urn,
)
from sqlalchemy import ColumnElement, and_, exists, false, func, literal, not_, or_, true
from sqlalchemy.orm import aliased
from sqlmodel import col

from user_store.errors import InvalidFilter
from user_store.identity import name_key
from user_store.json_elements import elements
from user_store.tables import GroupNestingRow, GroupRow, MembershipRow, UserEmailRow, UserRow

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
    #            "bool", "datetime", "version" (the integer behind meta.version's ETag)
    sortable: bool = True


@dataclass(frozen=True)
class Branch:
    """One place the values of a multi-valued attribute live: rows of a child table (linked to
    the parent row by ``link``) or the elements of a JSON array. Each value is a row, and
    ``attrs`` reads its sub-attributes."""

    attrs: dict[str, Attr]
    link: tuple[Any, ...] = ()  # conditions tying a value's row to the parent row
    source: Any = None  # what the rows are selected from, when no column names it


@dataclass(frozen=True)
class Multi:
    """A multi-valued attribute: its values, from one or more branches (a group's members are
    users and groups), and the sub-attribute a bare path (``emails``) compares on."""

    branches: tuple[Branch, ...]
    default: str = "value"


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
    "meta.version": Attr(_c(UserRow.version), "version", sortable=False),
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

_MEMBER_USER = aliased(UserRow, name="member_user")
_MEMBER_GROUP = aliased(GroupRow, name="member_group")
_OF_GROUP = aliased(GroupRow, name="of_group")

USER_MULTI: dict[str, Multi] = {
    "emails": Multi(
        (
            Branch(
                {
                    "value": Attr(_c(UserEmailRow.value_key), "key"),
                    "type": Attr(_c(UserEmailRow.type), "ci"),
                    "primary": Attr(_c(UserEmailRow.primary), "bool"),
                },
                (col(UserEmailRow.user_id) == col(UserRow.id),),
            ),
        )
    ),
    # A user's groups are the groups it is a direct member of (docs/interop.md).
    "groups": Multi(
        (
            Branch(
                {
                    "value": Attr(_c(MembershipRow.group_id), "ce"),
                    "display": Attr(_c(_OF_GROUP.display_name), "ci"),
                    "type": Attr(literal("direct"), "ci"),
                },
                (
                    col(MembershipRow.user_id) == col(UserRow.id),
                    _OF_GROUP.id == col(MembershipRow.group_id),
                ),
            ),
        )
    ),
}


def _json_multi(key: str, subs: dict[str, str]) -> Multi:
    """A multi-valued attribute kept as a JSON array in the user's ``extra``."""
    rows = elements(col(UserRow.extra), key)
    value = rows.c.value
    attrs = {
        name.lower(): Attr(
            value[name].as_boolean() if kind == "bool" else value[name].as_string(),
            kind,
            sortable=False,
        )
        for name, kind in subs.items()
    }
    return Multi(
        (Branch(attrs, source=rows),), default="formatted" if "formatted" in subs else "value"
    )


_LABELLED = {"value": "ci", "display": "ci", "type": "ci", "primary": "bool"}
for _name in ("phoneNumbers", "ims", "photos", "entitlements", "roles", "x509Certificates"):
    USER_MULTI[_name.lower()] = _json_multi(_name, _LABELLED)
USER_MULTI["addresses"] = _json_multi(
    "addresses",
    {
        **{n: "ci" for n in ("formatted", "streetAddress", "locality", "region")},
        **{n: "ci" for n in ("postalCode", "country", "type")},
        "primary": "bool",
    },
)

GROUP_ATTRS: dict[str, Attr] = {
    "id": Attr(_c(GroupRow.id), "ce"),
    "displayname": Attr(_c(GroupRow.display_name_key), "key"),
    "externalid": Attr(_c(GroupRow.external_id), "ce"),
    "meta.created": Attr(_c(GroupRow.created_at), "datetime"),
    "meta.lastmodified": Attr(_c(GroupRow.updated_at), "datetime"),
    "meta.version": Attr(_c(GroupRow.version), "version", sortable=False),
}
GROUP_MULTI: dict[str, Multi] = {
    # Users and groups (nested groups) are members; ``display`` is what a member shows there:
    # a user's userName, a group's displayName.
    "members": Multi(
        (
            Branch(
                {
                    "value": Attr(_c(MembershipRow.user_id), "ce"),
                    "type": Attr(literal("User"), "ci"),
                    "display": Attr(_c(_MEMBER_USER.user_name_key), "key"),
                },
                (
                    col(MembershipRow.group_id) == col(GroupRow.id),
                    _MEMBER_USER.id == col(MembershipRow.user_id),
                ),
            ),
            Branch(
                {
                    "value": Attr(_c(GroupNestingRow.member_group_id), "ce"),
                    "type": Attr(literal("Group"), "ci"),
                    "display": Attr(_c(_MEMBER_GROUP.display_name_key), "key"),
                },
                (
                    col(GroupNestingRow.group_id) == col(GroupRow.id),
                    _MEMBER_GROUP.id == col(GroupNestingRow.member_group_id),
                ),
            ),
        )
    ),
}


def parse_datetime(value: Any) -> datetime:
    """An RFC 3339 date-time from a filter or a cursor, in UTC.

    Compared as a moment, not as text: ``2015-10-10T16:38:21+02:00`` is
    ``2015-10-10T14:38:21Z``. SQLite keeps UTC times as text without an offset, so the value
    is brought to UTC before it is bound; one without an offset is taken as UTC.
    """
    if not isinstance(value, str):
        raise InvalidFilter(f"{value!r} is not a date-time")
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidFilter(f"{value!r} is not an RFC 3339 date-time") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_VERSION = re.compile(r'\s*(?:[Ww]/)?"?([0-9]{1,18})"?\s*')


def parse_version(value: Any, name: str) -> int:
    """The version number of a ``meta.version`` value: ``W/"3"`` (the ETag form Roster
    returns), ``"3"`` or ``3``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _VERSION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidFilter(f'{name} is a version such as W/"3", not {value!r}')
    return int(match.group(1))


def _compare(attr: Attr, op: str, value: Any, name: str) -> ColumnElement[bool]:
    column = attr.column
    if attr.kind == "bool":
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise InvalidFilter(f"{name} is boolean: only eq/ne with true or false")
        return column == value if op == "eq" else or_(column.is_(None), column != value)
    if attr.kind == "datetime":
        moment = parse_datetime(value)
        return _ordered(column, op, moment, name)
    if attr.kind == "version":
        if op in ("co", "sw", "ew"):
            raise InvalidFilter(f"{name} is a version: compare it with eq, ne, gt, ge, lt or le")
        return _ordered(column, op, parse_version(value, name), name)
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
    if attr.kind in ("bool", "datetime", "version"):
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
                return or_(
                    *(
                        self._exists(branch, self._sub(branch, where, depth + 1))
                        for branch in multi.branches
                    )
                )
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

    @staticmethod
    def _exists(branch: Branch, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        query = exists() if branch.source is None else exists().select_from(branch.source)
        return query.where(*branch.link, condition)

    @staticmethod
    def _sub(branch: Branch, expr: Expr, depth: int) -> ColumnElement[bool]:
        return FilterCompiler(branch.attrs, {}, None, "").compile(expr, depth)

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
            conditions = []
            for branch in multi.branches:
                sub = branch.attrs.get(tail or multi.default)
                if sub is None:
                    raise InvalidFilter(f"unknown attribute {path!r}")
                if present and not tail:
                    conditions.append(self._exists(branch, true()))
                else:
                    conditions.append(self._exists(branch, build(sub, path)))
            return or_(*conditions)
        raise InvalidFilter(f"unknown attribute {path!r}")


USER_FILTERS = FilterCompiler(USER_ATTRS, USER_MULTI, UserRow.id, USER_URN)
GROUP_FILTERS = FilterCompiler(GROUP_ATTRS, GROUP_MULTI, GroupRow.id, GROUP_URN)
