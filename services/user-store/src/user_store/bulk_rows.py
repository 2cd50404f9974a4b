"""Rows for several tables inserted by one PostgreSQL statement: one round trip, not one per table.

An ingest batch writes, besides its canonical changes, e-mail index rows, ``processed_events``
rows, outbox rows and history rows. Four ``executemany`` inserts are four round trips to the
database inside the batch's transaction, and every SCIM write waits for them (issue 10,
``bench/trace_create.py``). On PostgreSQL they go as one statement instead: each table's rows
are sent as one array per column and inserted by a data-modifying ``WITH`` clause, all in the
statement's single round trip.

* Rows are inserted in the order given (``WITH ORDINALITY`` … ``ORDER BY``), so identity columns
  (the outbox's id, which is its publishing order) are assigned in that order.
* Arrays are sent with their base types (``text``, not ``varchar(n)``): an explicit cast to a
  bounded type would truncate silently, while the insert's own assignment refuses a value that
  is too long, exactly as a row-by-row insert does.
* JSON columns travel as text and are cast per value.

The statement text depends only on which tables and columns are present, so it is built once
per shape and reused (and prepared once per connection by asyncpg).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

_BASE_TYPES: tuple[tuple[type[sa.types.TypeEngine[Any]], str], ...] = (
    (sa.Boolean, "boolean"),
    (sa.Integer, "bigint"),  # BigInteger too
    (sa.DateTime, "timestamptz"),
    (sa.String, "text"),  # Text too
)
_Shape = tuple[tuple[str, tuple[str, ...]], ...]
_statements: dict[_Shape, sa.TextClause] = {}


def _array_type(column: sa.Column[Any]) -> tuple[str, bool]:
    """The element type a column's values are sent as, and whether they are JSON (as text)."""
    base = column.type
    if isinstance(base, sa.TypeDecorator):  # sqlmodel's AutoString: a String underneath
        base = base.impl_instance
    if isinstance(base, sa.JSON):
        return "text", True
    for kind, name in _BASE_TYPES:
        if isinstance(base, kind):
            return name, False
    raise TypeError(f"no array type for column {column}")  # pragma: no cover - a new column type


def _statement(tables: Sequence[tuple[sa.Table, tuple[str, ...]]]) -> sa.TextClause:
    shape: _Shape = tuple((table.name, names) for table, names in tables)
    statement = _statements.get(shape)
    if statement is not None:
        return statement
    parts = []
    for t, (table, names) in enumerate(tables):
        arrays, selected = [], []
        for c, name in enumerate(names):
            kind, is_json = _array_type(table.c[name])
            arrays.append(f"CAST(:p{t}_{c} AS {kind}[])")
            selected.append(f"u.c{c}::json" if is_json else f"u.c{c}")
        aliases = ", ".join(f"c{c}" for c in range(len(names)))
        columns = ", ".join(f'"{name}"' for name in names)
        parts.append(  # names from our own table metadata; every value is bound
            f'INSERT INTO "{table.name}" ({columns}) SELECT {", ".join(selected)} '  # noqa: S608
            f"FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS u({aliases}, n) ORDER BY u.n"
        )
    *first, last = parts
    text = ""
    if first:
        text = "WITH " + ", ".join(f"w{i} AS ({part})" for i, part in enumerate(first)) + " "
    statement = _statements[shape] = sa.text(text + last)
    return statement


async def insert_rows(
    session: AsyncSession, tables: Sequence[tuple[sa.Table, Sequence[dict[str, Any]]]]
) -> None:
    """Insert each table's rows (dicts with the same keys) in one statement; empty lists skip.

    PostgreSQL only: the caller keeps per-table ``executemany`` for SQLite."""
    present = [(table, rows) for table, rows in tables if rows]
    if not present:
        return
    shapes = [(table, tuple(rows[0])) for table, rows in present]
    params: dict[str, list[Any]] = {}
    for t, ((table, names), (_, rows)) in enumerate(zip(shapes, present, strict=True)):
        for c, name in enumerate(names):
            _, is_json = _array_type(table.c[name])
            values = [row[name] for row in rows]
            if is_json:
                values = [None if v is None else json.dumps(v) for v in values]
            params[f"p{t}_{c}"] = values
    await session.execute(_statement(shapes), params)
