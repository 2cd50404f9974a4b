"""The tolerant reader: fields a record carries that this package's models do not know are set
aside before validation, so an additive field in a newer minor release does not stop a consumer.

Roster's contract models (``roster_shared``) stay strict — they refuse unknown fields, so a
producer's typo still fails at the edge. The consumer side reads through a copy of the record
that holds only the fields the model declares, at every level (the envelope, ``data``, the user
snapshot, its e-mails and links ...). Free-form objects the contract declares as such (``extra``)
are kept whole. What was set aside is counted and logged once per event type and field path.

A type the package does not know, or a ``schema_version`` above the one it knows, is still
refused (``decoding``): a version bump is how Roster announces a change a consumer must not
read past.
"""

from __future__ import annotations

import logging
import types
from collections import Counter
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

log = logging.getLogger("roster_events")


class IgnoredFields:
    """Unknown fields seen so far: ``counts[(type, path)]``; each pair is logged the first time."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def note(self, kind: str, paths: list[str]) -> None:
        for path in paths:
            key = (kind, path)
            if key not in self.counts:
                log.warning(
                    "ignoring field %r of %s: not known to this roster-events version "
                    "(an additive field from a newer Roster; logged once)",
                    path,
                    kind,
                )
            self.counts[key] += 1


def known_only(model: type[BaseModel], raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``raw`` with only the fields ``model`` declares (recursively), and the paths set aside."""
    dropped: list[str] = []
    return _model(model, raw, "", dropped), dropped


def _model(model: type[BaseModel], raw: dict[str, Any], at: str, dropped: list[str]) -> Any:
    kept: dict[str, Any] = {}
    fields = model.model_fields
    names = {f.alias or name: name for name, f in fields.items()}
    for key, value in raw.items():
        if key not in names:
            dropped.append(at + key)
            continue
        kept[key] = _value(fields[names[key]].annotation, value, f"{at}{key}.", dropped)
    return kept


def _value(annotation: Any, value: Any, at: str, dropped: list[str]) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _value(get_args(annotation)[0], value, at, dropped)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model(annotation, value, at, dropped) if isinstance(value, dict) else value
    if origin in (Union, types.UnionType):
        member = _member(get_args(annotation), value)
        return value if member is None else _value(member, value, at, dropped)
    if origin in (list, tuple, set, frozenset) and isinstance(value, list):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            return [_value(args[0], item, f"{at}[{i}].", dropped) for i, item in enumerate(value)]
    return value  # scalars and free-form objects (``extra``): as they are


def _member(members: tuple[Any, ...], value: Any) -> Any:
    """The union member a value is read as: the one model (``X | None``), or the model whose
    ``type`` literal the value names; otherwise none (the value is left as it is)."""
    if not isinstance(value, dict):
        return None
    models = [
        m
        for m in (get_args(m)[0] if get_origin(m) is Annotated else m for m in members)
        if isinstance(m, type) and issubclass(m, BaseModel)
    ]
    if len(models) == 1:
        return models[0]
    for model in models:
        field = model.model_fields.get("type")
        if (
            field is not None
            and get_origin(field.annotation) is Literal
            and value.get("type") in get_args(field.annotation)
        ):
            return model
    return None
