"""The User resource (RFC 7643 §4.1, and the enterprise extension of §4.3) mapped to and from the
shared contract: a normalised request body to :class:`UserAttributes`, a :class:`UserSnapshot`
to the SCIM User a response carries."""

from __future__ import annotations

import copy

from pydantic import ValidationError
from roster_shared.events.people import Email, MemberRef, UserAttributes, UserSnapshot

from scim_api.errors import InvalidValue, from_contract
from scim_api.resources.meta import meta
from scim_api.resources.normalise import Resource
from scim_api.resources.schemas import ENTERPRISE_SCHEMA, USER_SCHEMA

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
        raise from_contract(exc) from exc


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
    out["meta"] = meta(
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
