"""PATCH (RFC 7644 §3.5.2) applied to a resource in memory, with the dialects of real IdPs.

The service reads the resource, applies the operations here and writes the result back with
the version it read (optimistic concurrency). Accepted beyond the RFC's letter, because IdPs
send them (Okta's and Entra ID's published SCIM behaviour):

* ``op`` in any case (Entra's ``"Replace"``, ``"Add"``);
* booleans as strings (``"False"``), through the schema's types;
* path-less value objects with dotted (``name.givenName``) or URN-qualified keys, and
  ``id``/``schemas``/``meta`` inside them ignored (Okta's group rename sends ``id``);
* ``remove`` of a multi-valued attribute with a ``value`` list removes only those elements
  (Entra's member removal) - it never empties the attribute;
* ``add``/``replace`` through a filtered path that matches nothing creates the element from the
  filter's ``eq`` terms (``emails[type eq "work"].value`` on a user without a work e-mail);
* an empty ``Operations`` list changes nothing.

Anything else malformed is a 400 (``invalidSyntax``, ``invalidPath``, ``invalidValue``,
``mutability``, ``noTarget``): never a 500 and never a silent no-op.
"""

from __future__ import annotations

import copy
from typing import Any

from roster_shared.filters import And, Compare, Expr, Not, Or, Present

from scim_api.errors import InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget, TooMany
from scim_api.paths import PatchPath, parse_patch_path
from scim_api.resources import Resource, coerce
from scim_api.schemas import PATCH_OP, AttrDef, ResourceSchema

MAX_OPERATIONS = 1000
_IGNORED_KEYS = {"id", "schemas", "meta"}


def operations(body: Any) -> list[dict[str, Any]]:
    """The operations of a PatchOp message, keys lower-cased; 400 when it is not one."""
    if not isinstance(body, dict):
        raise InvalidSyntax("the body must be a PatchOp object")
    lowered = {str(k).lower(): v for k, v in body.items()}
    schemas = lowered.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or PATCH_OP.lower() not in {str(s).lower() for s in schemas}
    ):
        raise InvalidSyntax(f"schemas must be [{PATCH_OP!r}]")
    ops = lowered.get("operations")
    if not isinstance(ops, list):
        raise InvalidSyntax("Operations must be a list of operations")
    if len(ops) > MAX_OPERATIONS:
        raise TooMany(f"at most {MAX_OPERATIONS} operations per PATCH")
    out = []
    for index, op in enumerate(ops):
        if not isinstance(op, dict):
            raise InvalidSyntax(f"operation {index} must be an object")
        entry = {str(k).lower(): v for k, v in op.items()}
        name = entry.get("op")
        if not isinstance(name, str) or name.lower() not in ("add", "remove", "replace"):
            raise InvalidSyntax(f"operation {index}: op must be add, remove or replace")
        entry["op"] = name.lower()
        path = entry.get("path")
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise InvalidPath(f"operation {index}: path must be a non-empty string")
        out.append(entry)
    return out


def apply(schema: ResourceSchema, resource: Resource, ops: list[dict[str, Any]]) -> Resource:
    """The resource after ``ops`` (a new object; ``resource`` is left alone)."""
    result = copy.deepcopy(resource)
    for op in ops:
        _apply_one(schema, result, op["op"], op.get("path"), op.get("value"), "value" in op)
    return result


def _apply_one(
    schema: ResourceSchema,
    resource: Resource,
    op: str,
    path: str | None,
    value: Any,
    has_value: bool,
) -> None:
    if path is None:
        if op == "remove":
            raise NoTarget("remove needs a path")
        if not isinstance(value, dict):
            raise InvalidValue(f"{op} without a path needs an object of attributes as value")
        for key, item in value.items():
            if not isinstance(key, str) or key.lower() in _IGNORED_KEYS:
                continue
            if key.lower() in schema.extensions:
                if not isinstance(item, dict):
                    raise InvalidValue(f"{key} must be an object")
                for sub_key, sub_item in item.items():
                    _apply_path(schema, resource, op, f"{key}:{sub_key}", sub_item, True)
                continue
            _apply_path(schema, resource, op, key, item, True)
        return
    _apply_path(schema, resource, op, path, value, has_value)


def _apply_path(
    schema: ResourceSchema, resource: Resource, op: str, path: str, value: Any, has_value: bool
) -> None:
    if path.strip().lower() in schema.extensions:
        _extension(schema, resource, op, path.strip(), value, has_value)
        return
    parsed = parse_patch_path(schema, path)
    target = parsed.target
    attr = target.attr
    leaf = parsed.sub or target.leaf
    if attr.mutability == "readOnly" or leaf.mutability == "readOnly":
        raise Mutability(f"{target.name} is read-only")
    if attr.mutability == "writeOnly":
        return  # password: accepted (Okta sends it) and never kept, as on POST and PUT
    if op == "remove" and parsed.where is None and target.sub is None and attr.required:
        raise Mutability(f"{target.name} is required: it can be replaced, not removed")
    if op != "remove" and not has_value:
        raise InvalidValue(f"{op} {path} needs a value")
    holder: Resource = resource.setdefault(target.extension, {}) if target.extension else resource
    if parsed.where is not None:
        _filtered(holder, op, parsed, value, path)
    elif target.sub is not None:
        _sub_attribute(holder, op, attr, target.sub, value, path)
    else:
        _whole(holder, op, attr, value, has_value, path)
    if target.extension and not resource.get(target.extension):
        resource.pop(target.extension, None)


def _extension(
    schema: ResourceSchema, resource: Resource, op: str, path: str, value: Any, has_value: bool
) -> None:
    """The whole extension as the target: ``remove`` drops it, ``add``/``replace`` set the
    sub-attributes given (RFC 7644 §3.5.2.3: those not given are left alone)."""
    urn = schema.extension_urn(path.lower())
    assert urn is not None
    if op == "remove":
        resource.pop(urn, None)
        return
    if not has_value or not isinstance(value, dict):
        raise InvalidValue(f"{op} {urn} needs an object of its attributes as value")
    for key, item in value.items():
        if isinstance(key, str) and key.lower() not in _IGNORED_KEYS:
            _apply_path(schema, resource, op, f"{urn}:{key}", item, True)


def _whole(
    holder: Resource, op: str, attr: AttrDef, value: Any, has_value: bool, path: str
) -> None:
    if op == "remove":
        if attr.multi and has_value and value is not None:
            # Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]} removes only those.
            gone = coerce(attr, value, path)
            if not gone:
                raise InvalidValue(f"remove {path}: value names no elements to remove")
            current = holder.get(attr.name, [])
            kept = [e for e in current if not any(_same(attr, e, g) for g in gone)]
            _set(holder, attr, kept)
        else:
            holder.pop(attr.name, None)
        return
    coerced = coerce(attr, value, path)
    if coerced is None:
        if op == "add":
            raise InvalidValue(f"add {path} needs a value, not null")
        if attr.required:
            raise Mutability(f"{attr.name} is required: it can be replaced, not emptied")
        holder.pop(attr.name, None)  # replace with null: the attribute becomes unassigned
        return
    if attr.multi:
        if op == "replace":
            _set(holder, attr, _dedupe(attr, coerced))
            return
        current = list(holder.get(attr.name, []))
        for element in coerced:
            _add_element(attr, current, element)
        _set(holder, attr, current)
        return
    if attr.complex and isinstance(coerced, dict):
        merged = dict(holder.get(attr.name) or {})
        merged.update(coerced)
        _set(holder, attr, merged)
        return
    _set(holder, attr, coerced)


def _sub_attribute(
    holder: Resource, op: str, attr: AttrDef, sub: AttrDef, value: Any, path: str
) -> None:
    if attr.multi:
        raise InvalidPath(f"{path}: name the element with a filter, e.g. {attr.name}[type eq ...]")
    parent = dict(holder.get(attr.name) or {})
    if op == "remove":
        parent.pop(sub.name, None)
    else:
        coerced = coerce(sub, value, path)
        if coerced is None:
            parent.pop(sub.name, None)
        else:
            parent[sub.name] = coerced
    _set(holder, attr, parent)


def _filtered(holder: Resource, op: str, parsed: PatchPath, value: Any, path: str) -> None:
    attr = parsed.target.attr
    assert parsed.where is not None
    elements = [dict(e) for e in holder.get(attr.name, []) if isinstance(e, dict)]
    matched = [i for i, e in enumerate(elements) if matches(parsed.where, e, attr)]
    if op == "remove":
        if parsed.sub is not None:
            for i in matched:
                elements[i].pop(parsed.sub.name, None)
            elements = [e for e in elements if e]
        else:
            elements = [e for i, e in enumerate(elements) if i not in set(matched)]
        _set(holder, attr, elements)
        return
    if parsed.sub is not None:
        new_value = coerce(parsed.sub, value, path)
        if not matched:
            element = _element_from_filter(parsed.where, attr, path)
            element[parsed.sub.name] = new_value
            _add_element(attr, elements, element)
        for i in matched:
            if new_value is None:
                elements[i].pop(parsed.sub.name, None)
            else:
                elements[i][parsed.sub.name] = new_value
                if parsed.sub.name == "primary" and new_value is True:
                    _only_primary(elements, elements[i])
        _set(holder, attr, elements)
        return
    single = AttrDef(**{**attr.__dict__, "multi": False})
    coerced = coerce(single, value, path)
    if not isinstance(coerced, dict):
        raise InvalidValue(f"{path} needs an object value")
    if not matched:
        element = _element_from_filter(parsed.where, attr, path)
        element.update(coerced)
        _add_element(attr, elements, element)
    for i in matched:
        if op == "replace":
            elements[i] = coerced
        else:
            elements[i].update(coerced)
    _set(holder, attr, elements)


def _element_from_filter(where: Expr, attr: AttrDef, path: str) -> dict[str, Any]:
    """The element a filter of ``eq`` terms describes (to add when nothing matches)."""
    terms = where.items if isinstance(where, And) else (where,)
    element: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Compare) or term.op != "eq":
            raise NoTarget(f"{path} matches nothing and does not describe a new element")
        element[term.attr] = term.value
    return element


def _set(holder: Resource, attr: AttrDef, value: Any) -> None:
    if value is None or value == [] or value == {}:
        holder.pop(attr.name, None)
    else:
        holder[attr.name] = value


def _key(attr: AttrDef, element: Any) -> Any:
    if not isinstance(element, dict) or "value" not in element:
        return element
    value = element["value"]
    sub = attr.child("value")
    if isinstance(value, str) and sub is not None and not sub.case_exact:
        return (value.casefold(), str(element.get("type") or "").casefold())
    return (value, str(element.get("type") or "").casefold()) if attr.name != "members" else value


def _same(attr: AttrDef, element: Any, other: Any) -> bool:
    if isinstance(other, dict) and set(other) == {"value"} and isinstance(element, dict):
        sub = attr.child("value")
        a, b = element.get("value"), other["value"]
        if isinstance(a, str) and isinstance(b, str) and sub is not None and not sub.case_exact:
            return a.casefold() == b.casefold()
        return bool(a == b)
    return bool(_key(attr, element) == _key(attr, other))


def _dedupe(attr: AttrDef, elements: list[Any]) -> list[Any]:
    out: list[Any] = []
    for element in elements:
        _add_element(attr, out, element)
    return out


def _add_element(attr: AttrDef, elements: list[Any], element: Any) -> None:
    for i, existing in enumerate(elements):
        if _same(attr, existing, element):
            if isinstance(existing, dict) and isinstance(element, dict):
                elements[i] = {**existing, **element}
                element = elements[i]
            break
    else:
        elements.append(element)
    if isinstance(element, dict) and element.get("primary") is True:
        _only_primary(elements, element)


def _only_primary(elements: list[Any], chosen: Any) -> None:
    """RFC 7643 §2.4: at most one element is primary."""
    for element in elements:
        if element is not chosen and isinstance(element, dict) and element.get("primary"):
            element["primary"] = False


def matches(expr: Expr, element: dict[str, Any], attr: AttrDef) -> bool:
    """Whether one element of a multi-valued attribute satisfies a value filter."""
    match expr:
        case And(items=items):
            return all(matches(item, element, attr) for item in items)
        case Or(items=items):
            return any(matches(item, element, attr) for item in items)
        case Not(item=item):
            return not matches(item, element, attr)
        case Present(attr=name):
            return element.get(name) not in (None, "", [], {})
        case Compare(attr=name, op=op, value=expected):
            sub = attr.child(name)
            return compare(element.get(name), op, expected, sub.case_exact if sub else False)
    raise InvalidPath("this filter cannot select elements")


def compare(actual: Any, op: str, expected: Any, case_exact: bool) -> bool:
    """One SCIM comparison (RFC 7644 §3.4.2.2) of an attribute's value."""
    if expected is None:
        if op == "eq":
            return actual is None
        if op == "ne":
            return actual is not None
        return False
    if actual is None:
        return op == "ne"
    if isinstance(expected, bool) or isinstance(actual, bool):
        equal = actual == expected
        return equal if op == "eq" else (not equal if op == "ne" else False)
    if isinstance(expected, str) and isinstance(actual, str):
        if not case_exact:
            actual, expected = actual.casefold(), expected.casefold()
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        pass
    else:
        actual, expected = str(actual), str(expected)
    match op:
        case "eq":
            return bool(actual == expected)
        case "ne":
            return bool(actual != expected)
        case "co":
            return isinstance(actual, str) and str(expected) in actual
        case "sw":
            return isinstance(actual, str) and actual.startswith(str(expected))
        case "ew":
            return isinstance(actual, str) and actual.endswith(str(expected))
        case "gt":
            return bool(actual > expected)
        case "ge":
            return bool(actual >= expected)
        case "lt":
            return bool(actual < expected)
        case "le":
            return bool(actual <= expected)
    return False
