"""SCIM resources (RFC 7643) at the edge: request JSON to canonical data, contract snapshots to
response JSON, and attribute projection.

Request bodies are normalised against the schema rather than validated strictly: attribute
names in any case, dotted or URN-qualified keys, booleans sent as strings and single objects
where a list is expected are what real IdPs send, and each is turned into its one canonical
form. What cannot be made sense of is a 400 ``invalidValue``. Read-only attributes in a body
are ignored (RFC 7643 §7); ``password`` is write-only and Roster does not keep it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from roster_shared.events.people import (
    Email,
    GroupSnapshot,
    MemberRef,
    UserAttributes,
    UserSnapshot,
)
from roster_shared.ids import is_id

from scim_api.errors import InvalidValue, ScimError
from scim_api.paths import resolve, split_urn
from scim_api.schemas import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    AttrDef,
    ResourceSchema,
)

Resource = dict[str, Any]
_IGNORED = {"schemas"}
_BOOL_STRINGS = {"true": True, "false": False}


def etag(version: int) -> str:
    """The weak ETag of a resource version (RFC 7644 §3.14)."""
    return f'W/"{version}"'


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
        if not isinstance(value, dict):
            if "value" in attr.sub and single and isinstance(value, (str, int, float)):
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


# -- users ---------------------------------------------------------------------------------

_USER_COLUMNS = {
    "userName",
    "externalId",
    "active",
    "displayName",
    "emails",
    "id",
    "meta",
    "schemas",
    "groups",
}


def user_attributes(resource: Resource) -> UserAttributes:
    """The contract's view of a normalised User resource; 400 when it cannot be one."""
    user_name = resource.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidValue("userName is required and must be a non-empty string")
    extra = {k: copy.deepcopy(v) for k, v in resource.items() if k not in _USER_COLUMNS}
    name = dict(extra.pop("name", {}) or {})
    given = name.pop("givenName", None)
    family = name.pop("familyName", None)
    if name:
        extra["name"] = name
    extra.pop("groups", None)
    try:
        return UserAttributes(
            user_name=user_name,
            external_id=resource.get("externalId"),
            active=resource.get("active"),
            display_name=resource.get("displayName"),
            given_name=given,
            family_name=family,
            emails=tuple(
                Email(value=e["value"], type=e.get("type"), primary=bool(e.get("primary")))
                for e in resource.get("emails", [])
                if isinstance(e, dict) and e.get("value")
            ),
            extra=extra,
        )
    except ValidationError as exc:
        raise InvalidValue(_validation_detail(exc)) from exc


def _validation_detail(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"


def _timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (SQLite hands back naive UTC datetimes)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _meta(
    resource_type: str, created: datetime, modified: datetime, version: int, location: str
) -> Resource:
    return {
        "resourceType": resource_type,
        "created": _timestamp(created),
        "lastModified": _timestamp(modified),
        "location": location,
        "version": etag(version),
    }


def user_resource(user: UserSnapshot, base: str) -> Resource:
    """The SCIM User of a snapshot (``base`` is the tenant's SCIM base URL)."""
    resource: Resource = copy.deepcopy(dict(user.extra))
    schemas = [USER_SCHEMA]
    if ENTERPRISE_SCHEMA in resource:
        schemas.append(ENTERPRISE_SCHEMA)
    name = dict(resource.pop("name", {}) or {})
    if user.given_name is not None:
        name["givenName"] = user.given_name
    if user.family_name is not None:
        name["familyName"] = user.family_name
    out: Resource = {"schemas": schemas, "id": user.id}
    if user.external_id is not None:
        out["externalId"] = user.external_id
    out["userName"] = user.user_name
    if name:
        out["name"] = name
    if user.display_name is not None:
        out["displayName"] = user.display_name
    out["active"] = user.active
    if user.emails:
        out["emails"] = [_email(e) for e in user.emails]
    out.update(resource)
    if user.groups:
        out["groups"] = [_group_ref(g, base) for g in user.groups]
    out["meta"] = _meta(
        "User", user.created_at, user.updated_at, user.version, f"{base}/Users/{user.id}"
    )
    return out


def _email(email: Email) -> Resource:
    out: Resource = {"value": email.value}
    if email.type is not None:
        out["type"] = email.type
    out["primary"] = email.primary
    return out


def _group_ref(group: MemberRef, base: str) -> Resource:
    out: Resource = {"value": group.id, "$ref": f"{base}/Groups/{group.id}", "type": "direct"}
    if group.display is not None:
        out["display"] = group.display
    return out


# -- groups --------------------------------------------------------------------------------


def group_fields(resource: Resource) -> tuple[str, str | None, list[str] | None, dict[str, Any]]:
    """``(displayName, externalId, member ids or None, extra)`` of a normalised Group."""
    name = resource.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("displayName is required and must be a non-empty string")
    if len(name) > 512:
        raise InvalidValue("displayName is longer than 512 characters")
    members = None
    if "members" in resource:
        members = []
        for member in resource["members"]:
            value = member.get("value") if isinstance(member, dict) else None
            if not isinstance(value, str) or not value:
                raise InvalidValue("every member needs a value (the member's id)")
            if not is_id(value):
                # What the user-store says of an unknown member, said before the value travels.
                raise InvalidValue("every member value must be the id of a user of this tenant")
            if member.get("type") not in (None, "User", "user"):
                raise InvalidValue("only users can be group members")
            members.append(value)
        members = list(dict.fromkeys(members))
    extra = {
        k: copy.deepcopy(v)
        for k, v in resource.items()
        if k not in ("displayName", "externalId", "members", "id", "meta", "schemas")
    }
    return name, resource.get("externalId"), members, extra


def group_resource(group: GroupSnapshot, base: str, *, members: bool = True) -> Resource:
    """The SCIM Group of a snapshot."""
    out: Resource = {"schemas": [GROUP_SCHEMA], "id": group.id}
    if group.external_id is not None:
        out["externalId"] = group.external_id
    out["displayName"] = group.display_name
    if members:
        # No "display": Roster keeps memberships, not a label per membership, and a value
        # derived from the user would not round-trip what the client wrote.
        out["members"] = [
            {"value": m.id, "$ref": f"{base}/Users/{m.id}", "type": "User"} for m in group.members
        ]
    out.update(copy.deepcopy(dict(group.extra)))
    out["meta"] = _meta(
        "Group", group.created_at, group.updated_at, group.version, f"{base}/Groups/{group.id}"
    )
    return out


# -- projection (RFC 7644 §3.4.2.5, §3.9) ----------------------------------------------------


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
