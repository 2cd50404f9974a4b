"""SCIM resources (RFC 7643): their schemas, User and Group mapped to and from the shared
contract's snapshots, and the discovery documents that describe them.

The names the use cases and views need are re-exported here; each module holds one resource or
one aspect of all of them.
"""

from scim_api.resources.group import group_fields, group_resource
from scim_api.resources.meta import etag
from scim_api.resources.normalise import Resource, coerce, normalise
from scim_api.resources.user import user_attributes, user_resource

__all__ = [
    "Resource",
    "coerce",
    "etag",
    "group_fields",
    "group_resource",
    "normalise",
    "user_attributes",
    "user_resource",
]
