"""The filter expression tree the user-store's internal API takes.

scim-api parses RFC 7644 §3.4.2.2 filter text into this tree; the user-store compiles it to
parameterised SQL. Attribute paths use SCIM names (``userName``, ``name.givenName``,
``emails``), case-insensitively; a multi-valued attribute is filtered with :class:`Has`
(``emails[type eq "work" and value co "@corp.com"]``), whose inner paths are sub-attributes.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from roster_shared.events.envelope import Frozen
from roster_shared.events.people import GroupSnapshot, UserSnapshot

CompareOp = Literal["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
Scalar = str | bool | int | float | None


class Compare(Frozen):
    """``attr op value`` (RFC 7644 §3.4.2.2 attribute operators)."""

    kind: Literal["compare"] = "compare"
    attr: str = Field(min_length=1, max_length=256)
    op: CompareOp
    value: Scalar


class Present(Frozen):
    """``attr pr``: the attribute has a non-empty value."""

    kind: Literal["present"] = "present"
    attr: str = Field(min_length=1, max_length=256)


class And(Frozen):
    """All of the items."""

    kind: Literal["and"] = "and"
    items: tuple[Expr, ...] = Field(min_length=1)


class Or(Frozen):
    """Any of the items."""

    kind: Literal["or"] = "or"
    items: tuple[Expr, ...] = Field(min_length=1)


class Not(Frozen):
    """The item does not hold."""

    kind: Literal["not"] = "not"
    item: Expr


class Has(Frozen):
    """Some value of the multi-valued ``attr`` satisfies ``where`` (paths relative to it)."""

    kind: Literal["has"] = "has"
    attr: str = Field(min_length=1, max_length=256)
    where: Expr


Expr = Annotated[Compare | Present | And | Or | Not | Has, Field(discriminator="kind")]
EXPR_ADAPTER: TypeAdapter[Expr] = TypeAdapter(Expr)

And.model_rebuild()
Or.model_rebuild()
Not.model_rebuild()
Has.model_rebuild()


def shape(expr: Expr) -> tuple[int, int]:
    """``(depth, nodes)`` of a tree: depth counts the operators (and, or, not, has) on the
    longest path, nodes every node. Iterative, so measuring a hostile tree cannot itself run out
    of stack; both sides of the internal API bound a filter by it before recursing over it."""
    deepest = nodes = 0
    stack: list[tuple[Expr, int]] = [(expr, 0)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        match node:
            case And(items=items) | Or(items=items):
                stack.extend((item, depth + 1) for item in items)
            case Not(item=item) | Has(where=item):
                stack.append((item, depth + 1))
            case _:
                deepest = max(deepest, depth)
    return deepest, nodes


MAX_CURSOR_LENGTH = 4096
"""A cursor holds the last row's sort value (a userName is up to 512 characters) and a MAC."""


MAX_START_INDEX = 2**31 - 1
"""The largest startIndex a list takes (RFC 7644 leaves it open; SQL offsets are 64-bit)."""


class ListQuery(Frozen):
    """A page of users or groups: filter, order, and index or cursor paging (RFC 7644 §3.4.2.4,
    RFC 9865)."""

    filter: Expr | None = None
    sort_by: str | None = Field(default=None, max_length=256)
    descending: bool = False
    start_index: int = Field(
        default=1,
        ge=1,
        le=MAX_START_INDEX,
        description="1-based, as in SCIM; bounded so that no database offset overflows.",
    )
    count: int = Field(default=100, ge=0, le=1000)
    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR_LENGTH,
        description="Opaque; when set, start_index is ignored.",
    )


class UserPage(Frozen):
    """A page of users."""

    total: int
    start_index: int
    items: tuple[UserSnapshot, ...]
    next_cursor: str | None = None


class GroupPage(Frozen):
    """A page of groups."""

    total: int
    start_index: int
    items: tuple[GroupSnapshot, ...]
    next_cursor: str | None = None


USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user:"
"""The User resource's schema URN, lower-cased, with the colon an attribute path follows."""


def strip_urn(path: str, urn: str) -> str:
    """The attribute path lower-cased, without the resource's own schema URN."""
    lowered = path.lower()
    return lowered[len(urn) :] if lowered.startswith(urn) else lowered


def name_key(value: str) -> str:
    """Unicode NFKC then case-folded: the comparison key for userName, e-mail, group names."""
    return unicodedata.normalize("NFKC", value).casefold().strip()


def is_user_name_lookup(query: ListQuery) -> bool:
    """Whether ``query`` is an IdP's ``userName eq "..."`` lookup that a hot read answers
    (``roster_shared.hot_rows``): the whole result (at most one live user, by
    :func:`name_key`) on a first page that has room for it, in the default order (so nothing
    about sorting or paging can be refused or minted)."""
    found = query.filter
    return (
        isinstance(found, Compare)
        and found.op == "eq"
        and isinstance(found.value, str)
        and strip_urn(found.attr, USER_URN) == "username"
        and query.sort_by is None
        and query.cursor is None
        and query.start_index == 1
        and query.count >= 2
        and "\x00" not in found.value  # the user-store's general path decides what a NUL gets
    )
