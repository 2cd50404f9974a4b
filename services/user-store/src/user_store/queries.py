"""Reads: get by id, and filtered, sorted, paged lists compiled to parameterised SQL.

The filter tree (``roster_shared.filters``) is compiled clause by clause into SQLAlchemy
expressions; values are always bound parameters and LIKE patterns are escaped, so no filter
text ever becomes SQL text. Attribute names are SCIM's, matched case-insensitively (RFC 7644
§3.4.2.2); string comparisons follow each attribute's caseExact characteristic (RFC 7643).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roster_shared.events.people import GroupSnapshot, UserSnapshot
from roster_shared.filters import And, Compare, Expr, Has, ListQuery, Not, Or, Present, shape
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from user_store.cursors import Cursors, Position
from user_store.errors import Invalid, InvalidCursor, InvalidFilter, NotFound
from user_store.identity import name_key
from user_store.snapshots import group_snapshots, user_snapshots
from user_store.tables import GroupRow, MembershipRow, UserEmailRow, UserRow

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user:"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:group:"


MAX_FILTER_DEPTH = 20
"""Operators (and, or, not, has) on one path of a filter tree. The read API is a trust boundary
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


def _strip_urn(path: str, urn: str) -> str:
    lowered = path.lower()
    return lowered[len(urn) :] if lowered.startswith(urn) else lowered


def _parse_datetime(value: Any) -> datetime:
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
        moment = _parse_datetime(value)
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
        multi = self.multi.get(_strip_urn(path, self.urn))
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
        name = _strip_urn(path, self.urn)
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


async def _page(
    session: AsyncSession,
    table: Any,
    tenant_id: str,
    live: Sequence[ColumnElement[bool]],
    compiler: FilterCompiler,
    query: ListQuery,
    cursors: Cursors,
) -> tuple[int, list[Any], str | None]:
    kind = table.__tablename__
    conditions: list[ColumnElement[bool]] = [table.tenant_id == tenant_id, *live]
    if query.filter is not None:
        check_filter_size(query.filter)
        conditions.append(compiler.compile(query.filter))
    total = (
        await session.execute(select(func.count()).select_from(table).where(*conditions))
    ).scalar_one()
    sort_key = (query.sort_by or "meta.created").lower()
    attr = compiler.attrs.get(_strip_urn(sort_key, compiler.urn))
    if attr is None or not attr.sortable:
        raise Invalid(f"cannot sort by {query.sort_by!r}")
    sort_column = (
        attr.column if attr.kind in ("datetime", "bool") else func.coalesce(attr.column, "")
    )
    statement = select(table).where(*conditions)
    if query.cursor is not None:
        position = cursors.read(kind, tenant_id, sort_key, query)
        value: Any = position.value
        last_id = position.id
        if attr.kind == "datetime":
            try:
                value = _parse_datetime(value)
            except InvalidFilter as exc:  # pragma: no cover - we minted it
                raise InvalidCursor("the cursor is malformed") from exc
        after = (sort_column < value) if query.descending else (sort_column > value)
        statement = statement.where(
            or_(
                after,
                and_(
                    sort_column == value,
                    (table.id < last_id) if query.descending else (table.id > last_id),
                ),
            )
        )
    order = [sort_column.desc(), table.id.desc()] if query.descending else [sort_column, table.id]
    statement = statement.order_by(*order).limit(query.count)
    if query.cursor is None and query.start_index > 1:
        statement = statement.offset(query.start_index - 1)
    rows = list((await session.execute(statement)).scalars().all())
    next_cursor = None
    if rows and len(rows) == query.count:
        last = rows[-1]
        raw = getattr(last, attr.column.key)
        if attr.kind == "key" or attr.kind == "ci" or attr.kind == "ce":
            raw = raw or ""
        next_cursor = cursors.mint(
            kind,
            tenant_id,
            sort_key,
            query,
            Position(raw.isoformat() if isinstance(raw, datetime) else raw, last.id),
        )
    return int(total), rows, next_cursor


async def get_user(session: AsyncSession, tenant_id: str, user_id: str) -> UserSnapshot:
    """One live user of the tenant; other tenants' ids are not found."""
    row = (
        (
            await session.execute(
                select(UserRow).where(
                    UserRow.tenant_id == tenant_id,
                    UserRow.id == user_id,
                    col(UserRow.deleted_at).is_(None),
                )
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise NotFound(f"no user {user_id}")
    return (await user_snapshots(session, [row]))[0]


async def list_users(
    session: AsyncSession, tenant_id: str, query: ListQuery, *, cursors: Cursors
) -> tuple[int, list[UserSnapshot], str | None]:
    """A filtered, sorted page of the tenant's live users."""
    total, rows, cursor = await _page(
        session,
        UserRow,
        tenant_id,
        [col(UserRow.deleted_at).is_(None)],
        USER_FILTERS,
        query,
        cursors,
    )
    return total, await user_snapshots(session, rows), cursor


async def get_group(
    session: AsyncSession, tenant_id: str, group_id: str, *, members: bool = True
) -> GroupSnapshot:
    """One group of the tenant."""
    row = (
        (
            await session.execute(
                select(GroupRow).where(GroupRow.tenant_id == tenant_id, GroupRow.id == group_id)
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise NotFound(f"no group {group_id}")
    return (await group_snapshots(session, [row], members=members))[0]


async def list_groups(
    session: AsyncSession,
    tenant_id: str,
    query: ListQuery,
    *,
    cursors: Cursors,
    members: bool = True,
) -> tuple[int, list[GroupSnapshot], str | None]:
    """A filtered, sorted page of the tenant's groups."""
    total, rows, cursor = await _page(
        session, GroupRow, tenant_id, [], GROUP_FILTERS, query, cursors
    )
    return total, await group_snapshots(session, rows, members=members), cursor
