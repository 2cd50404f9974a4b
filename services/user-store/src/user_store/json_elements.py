"""The elements of a JSON array held in a JSON column, as rows: what lets a filter reach into
the multi-valued attributes the user-store keeps in ``extra`` (``phoneNumbers``, ``addresses``,
``roles``...) with ``EXISTS (SELECT ... FROM <elements> WHERE ...)``.

SQLite and PostgreSQL spell it differently (``json_each(col, '$."key"')`` against
``json_array_elements(col -> 'key')``), so it is one SQL construct compiled per dialect. Either
way each element comes out as a JSON ``value`` column, read with SQLAlchemy's JSON path
operators, and values stay bound parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class json_elements(FunctionElement[Any]):
    """``json_elements(json_column, key)``: one row per element of ``json_column[key]``."""

    name = "json_elements"
    inherit_cache = True


@compiles(json_elements, "sqlite")
def _sqlite(element: json_elements, compiler: Any, **kw: Any) -> str:
    source, key = list(element.clauses)
    # json_each walks an object's members too: only arrays are multi-valued attributes.
    return (
        f"json_each(CASE WHEN json_type({compiler.process(source, **kw)}, "
        f"'$.\"' || {compiler.process(key, **kw)} || '\"') = 'array' "
        f"THEN {compiler.process(source, **kw)} END, "
        f"'$.\"' || {compiler.process(key, **kw)} || '\"')"
    )


@compiles(json_elements, "postgresql")
def _postgresql(element: json_elements, compiler: Any, **kw: Any) -> str:
    source, key = list(element.clauses)
    # CAST: the same SQL whether the column is json or jsonb.
    target = f"(CAST({compiler.process(source, **kw)} AS json) -> {compiler.process(key, **kw)})"
    # json_array_elements fails on anything but an array: anything else has no elements.
    return f"json_array_elements(CASE WHEN json_typeof({target}) = 'array' THEN {target} END)"


def elements(source: Any, key: str) -> Any:
    """The rows of ``source[key]`` (a table-valued expression with a JSON ``value`` column)."""
    return json_elements(source, key).table_valued(column("value", JSON))
