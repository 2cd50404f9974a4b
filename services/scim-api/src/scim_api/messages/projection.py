"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9): which attributes a
response returns. ``id`` and ``schemas`` are always returned; unknown names are ignored."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from scim_api.errors import InvalidValue, ScimError
from scim_api.resources.normalise import Resource
from scim_api.resources.schemas import ResourceSchema, resolve


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


def _paths(
    schema: ResourceSchema, names: Iterable[str]
) -> list[tuple[str | None, str, str | None]]:
    out: list[tuple[str | None, str, str | None]] = []
    for name in names:
        if name.lower() in schema.extensions:
            out.append((schema.extension_urn(name.lower()), "*", None))
            continue
        try:
            resolved = resolve(schema, name, InvalidValue)
        except ScimError:
            continue  # unknown attributes are ignored in attributes/excludedAttributes
        out.append(
            (resolved.extension, resolved.attr.name, resolved.sub.name if resolved.sub else None)
        )
    return out


def project(
    schema: ResourceSchema,
    resource: Resource,
    attributes: list[str] | None,
    excluded: list[str] | None,
) -> Resource:
    """``resource`` shaped by ``attributes`` / ``excludedAttributes`` (``id``/``schemas`` stay)."""
    if attributes:
        keep: Resource = {"schemas": resource["schemas"], "id": resource["id"]}
        for extension, attr, sub in _paths(schema, attributes):
            holder = resource.get(extension, {}) if extension else resource
            target = keep.setdefault(extension, {}) if extension else keep
            if attr == "*":
                target.update(copy.deepcopy(holder))
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
        for extension, attr, sub in _paths(schema, excluded):
            holder = out.get(extension, {}) if extension else out
            if attr in ("id", "schemas") and extension is None:
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
    if attributes and not any(a.split(".")[0].endswith("members") for a in lowered):
        return False
    return not any(a.lower().endswith("members") for a in excluded or ())
