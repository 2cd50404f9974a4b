"""The resource schemas this endpoint serves (RFC 7643 §4, §7) and their attribute characteristics.

The definitions come from scim2-models (``User.to_schema()`` etc.), trimmed to what Roster
stores, so that ``/Schemas`` advertises exactly what a round trip keeps. The same definitions
drive behaviour: attribute names are resolved case-insensitively to their canonical spelling,
``mutability`` decides what a write may touch, ``returned`` what a read shows, ``caseExact``
how filters compare, and ``type`` how loosely-typed IdP values (``"False"``) are coerced.
Attribute paths (``name.givenName``, URN-qualified extension attributes) resolve against them
case-insensitively to their canonical spelling, so the user-store and the stored JSON only ever
see one spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from scim2_models import EnterpriseUser, Group, ResourceType, User

from scim_api.errors import InvalidPath, ScimError
from scim_api.resources import rfc7643

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# Sub-attributes Roster does not keep: advertising them would promise a round trip we break.
_DROPPED = {USER_SCHEMA: {"emails": {"display"}}}
_WORDS = {
    USER_SCHEMA: rfc7643.USER,
    ENTERPRISE_SCHEMA: rfc7643.ENTERPRISE_USER,
    GROUP_SCHEMA: rfc7643.GROUP,
}


@dataclass
class AttrDef:
    """One attribute's characteristics (RFC 7643 §7)."""

    name: str
    type: str
    multi: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    case_exact: bool = False
    required: bool = False
    uniqueness: str = "none"
    sub: dict[str, AttrDef] = field(default_factory=dict)
    schema: str = ""

    @property
    def complex(self) -> bool:
        """True for complex attributes (with sub-attributes)."""
        return self.type == "complex"

    def child(self, name: str) -> AttrDef | None:
        """A sub-attribute by name, case-insensitively."""
        return self.sub.get(name.lower())


def _attr(data: dict[str, Any], schema: str) -> AttrDef:
    return AttrDef(
        name=data["name"],
        type=data["type"],
        multi=bool(data.get("multiValued")),
        mutability=data.get("mutability", "readWrite"),
        returned=data.get("returned", "default"),
        case_exact=bool(data.get("caseExact")),
        required=bool(data.get("required")),
        uniqueness=data.get("uniqueness", "none"),
        sub={s["name"].lower(): _attr(s, schema) for s in data.get("subAttributes", [])},
        schema=schema,
    )


def _trim(schema: dict[str, Any]) -> dict[str, Any]:
    dropped = _DROPPED.get(schema["id"], {})
    for attribute in schema["attributes"]:
        gone = dropped.get(attribute["name"])
        if gone and "subAttributes" in attribute:
            attribute["subAttributes"] = [
                s for s in attribute["subAttributes"] if s["name"] not in gone
            ]
    return schema


@cache
def schema_documents() -> dict[str, dict[str, Any]]:
    """Each ``Schema`` resource by id (its URN), as JSON-ready data."""
    documents = {}
    for model in (User, EnterpriseUser, Group):
        data = _trim(model.to_schema().model_dump(exclude_none=True, mode="json"))
        if data["id"] == USER_SCHEMA:
            for attribute in data["attributes"]:
                if attribute["name"] == "active":
                    # Every Roster account is active or not; a create without it is active.
                    attribute["required"] = True
        if data["id"] == GROUP_SCHEMA:
            for attribute in data["attributes"]:
                if attribute["name"] == "displayName":
                    attribute["uniqueness"] = "server"  # Roster keeps group names unique
                if attribute["name"] == "members":
                    for sub in attribute["subAttributes"]:
                        if sub["name"] == "type":
                            sub["canonicalValues"] = ["User", "Group"]  # groups nest
                        if sub["name"] == "$ref":
                            sub["referenceTypes"] = ["User", "Group"]
                        if sub["name"] == "display":
                            sub["mutability"] = "readOnly"  # the member's own name
                            sub["returned"] = "request"
        rfc7643.describe(data, _WORDS[data["id"]])
        data["meta"] = {"resourceType": "Schema"}
        documents[data["id"]] = data
    return documents


@cache
def resource_type_documents() -> dict[str, dict[str, Any]]:
    """Each ``ResourceType`` resource by id (``User``, ``Group``)."""
    documents = {}
    for model in (User[EnterpriseUser], Group):
        data = ResourceType.from_resource(model).model_dump(exclude_none=True, mode="json")
        data["meta"] = {"resourceType": "ResourceType"}
        documents[data["id"]] = data
    return documents


def _common(schema: str) -> dict[str, AttrDef]:
    meta = AttrDef(
        "meta",
        "complex",
        mutability="readOnly",
        sub={
            n.lower(): AttrDef(n, t, mutability="readOnly", case_exact=True, schema=schema)
            for n, t in (
                ("resourceType", "string"),
                ("created", "dateTime"),
                ("lastModified", "dateTime"),
                ("location", "reference"),
                ("version", "string"),
            )
        },
        schema=schema,
    )
    return {
        "id": AttrDef(
            "id",
            "string",
            mutability="readOnly",
            returned="always",
            case_exact=True,
            uniqueness="server",
            schema=schema,
        ),
        "externalid": AttrDef("externalId", "string", case_exact=True, schema=schema),
        "meta": meta,
    }


@dataclass
class ResourceSchema:
    """A resource type's core schema and extensions, for name resolution."""

    core: str
    attrs: dict[str, AttrDef]
    extensions: dict[str, dict[str, AttrDef]]  # by lowercased URN

    def extension_urn(self, lowered: str) -> str | None:
        """The canonical URN of an extension, from its lowercased spelling."""
        for urn in (ENTERPRISE_SCHEMA,):
            if urn.lower() == lowered and lowered in self.extensions:
                return urn
        return None


def _schema_attrs(urn: str) -> dict[str, AttrDef]:
    document = schema_documents()[urn]
    return {a["name"].lower(): _attr(a, urn) for a in document["attributes"]}


@cache
def user_schema() -> ResourceSchema:
    """The User resource: core schema plus the enterprise extension."""
    return ResourceSchema(
        USER_SCHEMA,
        {**_common(USER_SCHEMA), **_schema_attrs(USER_SCHEMA)},
        {ENTERPRISE_SCHEMA.lower(): _schema_attrs(ENTERPRISE_SCHEMA)},
    )


@cache
def group_schema() -> ResourceSchema:
    """The Group resource."""
    return ResourceSchema(
        GROUP_SCHEMA, {**_common(GROUP_SCHEMA), **_schema_attrs(GROUP_SCHEMA)}, {}
    )


# -- attribute paths (RFC 7644 §3.10 attribute notation) ----------------------------------


@dataclass(frozen=True)
class Resolved:
    """An attribute path resolved against a schema."""

    attr: AttrDef
    sub: AttrDef | None = None
    extension: str | None = None  # canonical URN of the extension, None for the core schema

    @property
    def name(self) -> str:
        """The canonical path: ``name.givenName``, or URN-qualified for extensions."""
        text = self.attr.name + (f".{self.sub.name}" if self.sub else "")
        return f"{self.extension}:{text}" if self.extension else text

    @property
    def leaf(self) -> AttrDef:
        """The attribute the path ends on."""
        return self.sub or self.attr


def split_urn(schema: ResourceSchema, path: str) -> tuple[str | None, str]:
    """``(extension URN or None, the rest)``; the core schema's URN prefix is dropped."""
    lowered = path.lower()
    core = schema.core.lower() + ":"
    if lowered.startswith(core):
        return None, path[len(core) :]
    for urn_lower in schema.extensions:
        if lowered.startswith(urn_lower + ":"):
            return schema.extension_urn(urn_lower), path[len(urn_lower) + 1 :]
    return None, path


def resolve(schema: ResourceSchema, path: str, error: type[ScimError] = InvalidPath) -> Resolved:
    """Resolve ``attr``, ``attr.sub``, ``urn:attr`` or ``urn:attr.sub``."""
    extension, rest = split_urn(schema, path)
    head, _, tail = rest.partition(".")
    attrs = schema.extensions[extension.lower()] if extension else schema.attrs
    attr = attrs.get(head.lower())
    if attr is None and extension is None and ":" not in rest:
        # Lenient: an extension's attribute named without its URN (Entra's bare "manager")
        # when exactly one extension defines it and the core schema does not.
        owners = [urn for urn, defs in schema.extensions.items() if head.lower() in defs]
        if len(owners) == 1:
            extension = schema.extension_urn(owners[0])
            attr = schema.extensions[owners[0]][head.lower()]
    if attr is None:
        raise error(f"unknown attribute {path!r}")
    if not tail:
        return Resolved(attr, None, extension)
    sub = attr.child(tail)
    if sub is None:
        raise error(f"unknown attribute {path!r}")
    return Resolved(attr, sub, extension)
