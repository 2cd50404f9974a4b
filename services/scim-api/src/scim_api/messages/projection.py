"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9): which attributes a
response returns. ``id`` and ``schemas`` are always returned; unknown names are ignored.

A name may carry a value filter, ``emails[type eq "work"]`` (optionally ``.value``), as
Microsoft's clients send: only the values it selects are returned (or, excluded, left out).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from roster_shared.filters import Expr

from scim_api.errors import InvalidValue, ScimError
from scim_api.messages.filter import parse_patch_path
from scim_api.messages.patch import matches
from scim_api.resources.normalise import Resource
from scim_api.resources.schemas import AttrDef, ResourceSchema, resolve


def attribute_names(value: Any, what: str) -> list[str] | None:
    """The names of an ``attributes`` or ``excludedAttributes`` parameter: a comma-separated
    string (query) or a list of strings (``.search`` body); None when it names none."""
    if value is None:
        return None
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise InvalidValue(f"{what} must be a comma-separated list of attribute names")
    names = [v.strip() for v in items if v.strip()]
    return names or None


def requested(query: Mapping[str, str]) -> tuple[list[str] | None, list[str] | None]:
    """``(attributes, excludedAttributes)`` of a request for one resource."""
    return (
        attribute_names(query.get("attributes"), "attributes"),
        attribute_names(query.get("excludedAttributes"), "excludedAttributes"),
    )


@dataclass(frozen=True)
class _Path:
    extension: str | None
    attr: str  # canonical name, or "*" for a whole extension
    sub: str | None = None
    where: Expr | None = None  # a value filter over a multi-valued attribute's elements
    definition: AttrDef | None = None


def _paths(schema: ResourceSchema, names: Iterable[str]) -> list[_Path]:
    out: list[_Path] = []
    for name in names:
        if name.lower() in schema.extensions:
            out.append(_Path(schema.extension_urn(name.lower()), "*"))
            continue
        try:
            if "[" in name:
                parsed = parse_patch_path(schema, name)
                target = parsed.target
                sub = parsed.sub.name if parsed.sub else None
                out.append(
                    _Path(target.extension, target.attr.name, sub, parsed.where, target.attr)
                )
                continue
            resolved = resolve(schema, name, InvalidValue)
        except ScimError:
            continue  # unknown attributes are ignored in attributes/excludedAttributes
        out.append(
            _Path(
                resolved.extension,
                resolved.attr.name,
                resolved.sub.name if resolved.sub else None,
                definition=resolved.attr,
            )
        )
    return out


def _selected(path: _Path, value: Any) -> Any:
    """The elements of a multi-valued ``value`` that ``path``'s value filter selects."""
    if path.where is None or path.definition is None or not isinstance(value, list):
        return value
    return [e for e in value if isinstance(e, dict) and matches(path.where, e, path.definition)]


def project(
    schema: ResourceSchema,
    resource: Resource,
    attributes: list[str] | None,
    excluded: list[str] | None,
) -> Resource:
    """``resource`` shaped by ``attributes`` / ``excludedAttributes`` (``id``/``schemas`` stay)."""
    if attributes:
        keep: Resource = {"schemas": resource["schemas"], "id": resource["id"]}
        for path in _paths(schema, attributes):
            extension, attr, sub = path.extension, path.attr, path.sub
            holder = resource.get(extension, {}) if extension else resource
            target = keep.setdefault(extension, {}) if extension else keep
            if attr == "*":
                target.update(copy.deepcopy(holder))
            elif attr in holder and path.where is not None:
                chosen = _selected(path, holder[attr])
                if sub is not None:
                    chosen = [{sub: e[sub]} for e in chosen if sub in e]
                if chosen:
                    target[attr] = copy.deepcopy(chosen)
            elif attr in holder:
                value = holder[attr]
                if sub is None:
                    target[attr] = copy.deepcopy(value)
                elif isinstance(value, list):
                    # Elements stay aligned with the resource's so that several sub-attributes
                    # of one attribute (emails.value, emails.type) land in the same elements.
                    current = target.get(attr)
                    if not isinstance(current, list) or len(current) != len(value):
                        current = target[attr] = [{} for _ in value]
                    for element, source in zip(current, value, strict=True):
                        if isinstance(source, dict) and sub in source:
                            element[sub] = copy.deepcopy(source[sub])
                elif isinstance(value, dict) and sub in value:
                    target.setdefault(attr, {})[sub] = copy.deepcopy(value[sub])
            if extension and not target:
                keep.pop(extension, None)
        for key, value in list(keep.items()):
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                keep[key] = [v for v in value if v]
                if not keep[key]:
                    del keep[key]
        return keep
    if excluded:
        out = copy.deepcopy(resource)
        for path in _paths(schema, excluded):
            extension, attr, sub = path.extension, path.attr, path.sub
            holder = out.get(extension, {}) if extension else out
            if attr in ("id", "schemas") and extension is None:
                continue
            if path.where is not None and isinstance(holder.get(attr), list):
                chosen = _selected(path, holder[attr])
                if sub is None:
                    holder[attr] = [e for e in holder[attr] if e not in chosen]
                else:
                    for element in chosen:
                        element.pop(sub, None)
                    holder[attr] = [e for e in holder[attr] if e]
                if not holder[attr]:
                    del holder[attr]
                continue
            if attr == "*":
                if extension:
                    out.pop(extension, None)
            elif sub is None:
                holder.pop(attr, None)
            elif isinstance(holder.get(attr), list):
                for value in holder[attr]:
                    if isinstance(value, dict):
                        value.pop(sub, None)
            elif isinstance(holder.get(attr), dict):
                holder[attr].pop(sub, None)
        return out
    return resource


def members_wanted(attributes: list[str] | None, excluded: list[str] | None) -> bool:
    """Whether a Group response shows ``members``: reading them is the costly part of a group,
    so they are not fetched when the projection leaves them out."""
    lowered = {a.lower() for a in attributes or ()}
    if attributes and not any(a.split("[")[0].split(".")[0].endswith("members") for a in lowered):
        return False
    return not any(a.lower().endswith("members") for a in excluded or ())


def named(attributes: list[str] | None, path: str, urn: str) -> bool:
    """Whether ``attributes`` names ``path`` itself (an attribute ``returned: request`` is
    returned only then, RFC 7643 §7)."""
    wanted = {path.lower(), f"{urn}:{path}".lower()}
    return any(a.split("[")[0].lower() in wanted for a in attributes or ())
