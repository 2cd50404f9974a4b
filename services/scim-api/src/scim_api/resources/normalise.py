"""Request JSON to canonical data (RFC 7643 §2, §7), against the resource's schema.

Request bodies are normalised rather than validated strictly: attribute names in any case,
dotted or URN-qualified keys, booleans sent as strings and single objects where a list is
expected are what real IdPs send, and each is turned into its one canonical form. What cannot be
made sense of is a 400 ``invalidValue``. Read-only attributes in a body are ignored (RFC 7643
§7); ``password`` is write-only and Roster does not keep it.
"""

from __future__ import annotations

from typing import Any

from scim_api.errors import InvalidValue
from scim_api.resources.schemas import AttrDef, ResourceSchema, resolve, split_urn

Resource = dict[str, Any]
"""A SCIM resource as JSON-ready data."""
_IGNORED = {"schemas"}
_BOOL_STRINGS = {"true": True, "false": False}


def coerce(attr: AttrDef, value: Any, where: str, *, single: bool = True) -> Any:
    """A value made to fit ``attr``'s type, or 400 ``invalidValue``."""
    if value is None:
        return None
    if attr.multi:
        items = value if isinstance(value, list) else [value]
        element = AttrDef(**{**attr.__dict__, "multi": False})
        return [
            v
            for v in (coerce(element, item, where, single=False) for item in items)
            if v is not None
        ]
    if attr.complex:
        if isinstance(value, list) and len(value) == 1 and single:
            value = value[0]  # Entra's "manager": [{"$ref": null, "value": "id"}]
        if not isinstance(value, dict):
            if "value" in attr.sub and single and isinstance(value, (str, int, float)):
                if value == "":
                    return None  # an empty id names no one: the attribute is cleared
                value = {"value": value}  # Entra's "manager": "id"
            else:
                raise InvalidValue(f"{where} must be an object")
        out = {}
        for key, item in value.items():
            sub = attr.child(key)
            if sub is None:
                continue  # unknown sub-attributes are dropped, not stored
            if sub.mutability == "readOnly" and attr.mutability != "readOnly":
                continue
            coerced = coerce(sub, item, f"{where}.{sub.name}")
            if coerced is not None:
                out[sub.name] = coerced
        return out
    if attr.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
            return _BOOL_STRINGS[value.strip().lower()]
        raise InvalidValue(f"{where} must be true or false, not {value!r}")
    if attr.type == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise InvalidValue(f"{where} must be an integer")
        try:
            return int(value)
        except ValueError as exc:
            raise InvalidValue(f"{where} must be an integer") from exc
    if attr.type == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InvalidValue(f"{where} must be a number")
        try:
            return float(value)
        except ValueError as exc:
            raise InvalidValue(f"{where} must be a number") from exc
    if isinstance(value, (dict, list)):
        raise InvalidValue(f"{where} must be a single {attr.type} value")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalise(
    schema: ResourceSchema, body: dict[str, Any], *, keep_read_only: bool = False
) -> Resource:
    """A request body's attributes under their canonical names, coerced to their types.

    Keys may be plain (``userName``), dotted (``name.givenName``), URN-qualified
    (``urn:...:enterprise:2.0:User:department``) or an extension URN holding an object.
    Unknown attributes are left out; read-only ones too unless ``keep_read_only``.
    """
    out: Resource = {}
    for key, value in body.items():
        if not isinstance(key, str) or key.lower() in _IGNORED:
            continue
        set_path(schema, out, key, value, keep_read_only=keep_read_only)
    return out


def set_path(
    schema: ResourceSchema, resource: Resource, key: str, value: Any, *, keep_read_only: bool
) -> bool:
    """Set ``resource[key] = value`` for one body key; False when the key is unknown/ignored."""
    lowered = key.lower()
    if lowered in schema.extensions:
        urn = schema.extension_urn(lowered)
        assert urn is not None
        if value is None:
            resource.pop(urn, None)
            return True
        if not isinstance(value, dict):
            raise InvalidValue(f"{urn} must be an object")
        for sub_key, sub_value in value.items():
            if isinstance(sub_key, str):
                set_path(
                    schema, resource, f"{urn}:{sub_key}", sub_value, keep_read_only=keep_read_only
                )
        return True
    extension, rest = split_urn(schema, key)
    if ":" in rest:
        return False  # an extension Roster does not know
    try:
        resolved = resolve(schema, key, InvalidValue)
    except InvalidValue:
        return False
    attr, sub = resolved.attr, resolved.sub
    extension = resolved.extension  # also for an extension attribute named without its URN
    if not keep_read_only and (
        attr.mutability == "readOnly" or (sub is not None and sub.mutability == "readOnly")
    ):
        return False
    if attr.mutability == "writeOnly":
        return False
    holder = resource.setdefault(extension, {}) if extension else resource
    if sub is None:
        coerced = coerce(attr, value, resolved.name)
        if coerced is None or coerced == [] or coerced == {}:
            holder.pop(attr.name, None)
        else:
            holder[attr.name] = coerced
    else:
        if attr.multi:
            raise InvalidValue(f"{resolved.name}: name an element with a [filter]")
        parent = holder.setdefault(attr.name, {})
        coerced = coerce(sub, value, resolved.name)
        if coerced is None:
            parent.pop(sub.name, None)
        else:
            parent[sub.name] = coerced
        if not parent:
            holder.pop(attr.name, None)
    if extension and not resource.get(extension):
        resource.pop(extension, None)
    return True
