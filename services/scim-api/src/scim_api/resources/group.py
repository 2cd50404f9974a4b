"""The Group resource (RFC 7643 §4.2) mapped to and from the shared contract: a normalised request
body to its fields, a :class:`GroupSnapshot` to the SCIM Group a response carries."""

from __future__ import annotations

import copy
from typing import Any

from roster_shared.events.people import GroupSnapshot
from roster_shared.ids import is_id

from scim_api.errors import InvalidValue
from scim_api.resources.meta import meta
from scim_api.resources.normalise import Resource
from scim_api.resources.schemas import GROUP_SCHEMA


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
            kind = member.get("type")
            if kind is not None and (
                not isinstance(kind, str) or kind.lower() not in ("user", "group")
            ):
                raise InvalidValue("a member's type is User or Group")
            # The id says which it is (users' and groups' ids never collide); type is a hint.
            members.append(value)
        members = list(dict.fromkeys(members))
    extra = {
        k: copy.deepcopy(v)
        for k, v in resource.items()
        if k not in ("displayName", "externalId", "members", "id", "meta", "schemas")
    }
    return name, resource.get("externalId"), members, extra


def group_resource(
    group: GroupSnapshot, base: str, *, members: bool = True, display: bool = False
) -> Resource:
    """The SCIM Group of a snapshot. ``members.display`` is ``returned: request``: the
    member's own name (a user's userName, a group's displayName), shown only when asked for by
    name, so that a client's members come back as it wrote them."""
    out: Resource = {"schemas": [GROUP_SCHEMA], "id": group.id}
    if group.external_id is not None:
        out["externalId"] = group.external_id
    out["displayName"] = group.display_name
    if members:
        refs = [("User", "Users", m) for m in group.members]
        refs += [("Group", "Groups", g) for g in group.member_groups]
        out["members"] = []
        for kind, endpoint, ref in refs:
            member = {"value": ref.id, "$ref": f"{base}/{endpoint}/{ref.id}", "type": kind}
            if display and ref.display is not None:
                member["display"] = ref.display
            out["members"].append(member)
    out.update(copy.deepcopy(dict(group.extra)))
    out["meta"] = meta(
        "Group", group.created_at, group.updated_at, group.version, f"{base}/Groups/{group.id}"
    )
    return out
