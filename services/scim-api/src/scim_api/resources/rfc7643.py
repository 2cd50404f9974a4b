"""The names and descriptions RFC 7643 §8.7.1 (User, Group) and §8.7.2 (the enterprise
extension) give each schema and attribute, as ``/Schemas`` must carry them.

The attribute characteristics come from scim2-models (``resources/schemas.py``); its
descriptions are paraphrased from §4, so the RFC's own text is laid over them here. Clients that
compare the schema representation with the RFC's (vendor test suites do) find the same words.
Keys are attribute paths (``name.givenName``); the RFC's double spaces between sentences are
kept as it prints them.
"""

from __future__ import annotations

from typing import Any

_DISPLAY = "A human-readable name, primarily used for display purposes.  READ-ONLY."
_PRIMARY = (
    "A Boolean value indicating the 'primary' or preferred attribute value for this "
    "attribute{example}.  The primary attribute value 'true' MUST appear no more than once."
)
_JENSEN = "given the full name 'Ms. Barbara J Jensen, III'"

USER: dict[str, Any] = {
    "name": "User",
    "description": "User Account",
    "attributes": {
        "userName": "Unique identifier for the User, typically used by the user to directly "
        "authenticate to the service provider. Each User MUST include a non-empty userName "
        "value.  This identifier MUST be unique across the service provider's entire set of "
        "Users. REQUIRED.",
        "name": "The components of the user's real name. Providers MAY return just the full "
        "name as a single string in the formatted sub-attribute, or they MAY return just the "
        "individual component attributes using the other sub-attributes, or they MAY return "
        "both.  If both variants are returned, they SHOULD be describing the same name, with "
        "the formatted name indicating how the component attributes should be combined.",
        "name.formatted": "The full name, including all middle names, titles, and suffixes as "
        "appropriate, formatted for display (e.g., 'Ms. Barbara J Jensen, III').",
        "name.familyName": "The family name of the User, or last name in most Western "
        f"languages (e.g., 'Jensen' {_JENSEN}).",
        "name.givenName": "The given name of the User, or first name in most Western "
        f"languages (e.g., 'Barbara' {_JENSEN}).",
        "name.middleName": f"The middle name(s) of the User (e.g., 'Jane' {_JENSEN}).",
        "name.honorificPrefix": "The honorific prefix(es) of the User, or title in most "
        f"Western languages (e.g., 'Ms.' {_JENSEN}).",
        "name.honorificSuffix": "The honorific suffix(es) of the User, or suffix in most "
        f"Western languages (e.g., 'III' {_JENSEN}).",
        "displayName": "The name of the User, suitable for display to end-users.  The name "
        "SHOULD be the full name of the User being described, if known.",
        "nickName": "The casual way to address the user in real life, e.g., 'Bob' or 'Bobby' "
        "instead of 'Robert'.  This attribute SHOULD NOT be used to represent a User's "
        "username (e.g., 'bjensen' or 'mpepperidge').",
        "profileUrl": "A fully qualified URL pointing to a page representing the User's "
        "online profile.",
        "title": 'The user\'s title, such as "Vice President."',
        "userType": "Used to identify the relationship between the organization and the "
        "user.  Typical values used might be 'Contractor', 'Employee', 'Intern', 'Temp', "
        "'External', and 'Unknown', but any value may be used.",
        "preferredLanguage": "Indicates the User's preferred written or spoken language.  "
        "Generally used for selecting a localized user interface; e.g., 'en_US' specifies the "
        "language English and country US.",
        "locale": "Used to indicate the User's default location for purposes of localizing "
        "items such as currency, date time format, or numerical representations.",
        "timezone": "The User's time zone in the 'Olson' time zone database format, e.g., "
        "'America/Los_Angeles'.",
        "active": "A Boolean value indicating the User's administrative status.",
        "password": "The User's cleartext password.  This attribute is intended to be used "
        "as a means to specify an initial password when creating a new User or to reset an "
        "existing User's password.",
        "emails": "Email addresses for the user.  The value SHOULD be canonicalized by the "
        "service provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'. "
        "Canonical type values of 'work', 'home', and 'other'.",
        "emails.value": "Email addresses for the user.  The value SHOULD be canonicalized by "
        "the service provider, e.g., 'bjensen@example.com' instead of "
        "'bjensen@EXAMPLE.COM'. Canonical type values of 'work', 'home', and 'other'.",
        "emails.display": _DISPLAY,
        "emails.type": "A label indicating the attribute's function, e.g., 'work' or 'home'.",
        "emails.primary": _PRIMARY.format(
            example=", e.g., the preferred mailing address or primary email address"
        ),
        "phoneNumbers": "Phone numbers for the User.  The value SHOULD be canonicalized by "
        "the service provider according to the format specified in RFC 3966, e.g., "
        "'tel:+1-201-555-0123'. Canonical type values of 'work', 'home', 'mobile', 'fax', "
        "'pager', and 'other'.",
        "phoneNumbers.value": "Phone number of the User.",
        "phoneNumbers.display": _DISPLAY,
        "phoneNumbers.type": "A label indicating the attribute's function, e.g., 'work', "
        "'home', 'mobile'.",
        "phoneNumbers.primary": _PRIMARY.format(
            example=", e.g., the preferred phone number or primary phone number"
        ),
        "ims": "Instant messaging addresses for the User.",
        "ims.value": "Instant messaging address for the User.",
        "ims.display": _DISPLAY,
        "ims.type": "A label indicating the attribute's function, e.g., 'aim', 'gtalk', 'xmpp'.",
        "ims.primary": _PRIMARY.format(
            example=", e.g., the preferred messenger or primary messenger"
        ),
        "photos": "URLs of photos of the User.",
        "photos.value": "URL of a photo of the User.",
        "photos.display": _DISPLAY,
        "photos.type": "A label indicating the attribute's function, i.e., 'photo' or 'thumbnail'.",
        "photos.primary": _PRIMARY.format(example=", e.g., the preferred photo or thumbnail"),
        "addresses": "A physical mailing address for this User. Canonical type values of "
        "'work', 'home', and 'other'.  This attribute is a complex type with the following "
        "sub-attributes.",
        "addresses.formatted": "The full mailing address, formatted for display or use with "
        "a mailing label.  This attribute MAY contain newlines.",
        "addresses.streetAddress": "The full street address component, which may include "
        "house number, street name, P.O. box, and multi-line extended street address "
        "information.  This attribute MAY contain newlines.",
        "addresses.locality": "The city or locality component.",
        "addresses.region": "The state or region component.",
        "addresses.postalCode": "The zip code or postal code component.",
        "addresses.country": "The country name component.",
        "addresses.type": "A label indicating the attribute's function, e.g., 'work' or 'home'.",
        "groups": "A list of groups to which the user belongs, either through direct "
        "membership, through nested groups, or dynamically calculated.",
        "groups.value": "The identifier of the User's group.",
        "groups.$ref": "The URI of the corresponding 'Group' resource to which the user belongs.",
        "groups.display": _DISPLAY,
        "groups.type": "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.",
        "entitlements": "A list of entitlements for the User that represent a thing the User has.",
        "entitlements.value": "The value of an entitlement.",
        "entitlements.display": _DISPLAY,
        "entitlements.type": "A label indicating the attribute's function.",
        "entitlements.primary": _PRIMARY.format(example=""),
        "roles": "A list of roles for the User that collectively represent who the User is, "
        "e.g., 'Student', 'Faculty'.",
        "roles.value": "The value of a role.",
        "roles.display": _DISPLAY,
        "roles.type": "A label indicating the attribute's function.",
        "roles.primary": _PRIMARY.format(example=""),
        "x509Certificates": "A list of certificates issued to the User.",
        "x509Certificates.value": "The value of an X.509 certificate.",
        "x509Certificates.display": _DISPLAY,
        "x509Certificates.type": "A label indicating the attribute's function.",
        "x509Certificates.primary": _PRIMARY.format(example=""),
    },
}

ENTERPRISE_USER: dict[str, Any] = {
    "name": "EnterpriseUser",
    "description": "Enterprise User",
    "attributes": {
        "employeeNumber": "Numeric or alphanumeric identifier assigned to a person, typically "
        "based on order of hire or association with an organization.",
        "costCenter": "Identifies the name of a cost center.",
        "organization": "Identifies the name of an organization.",
        "division": "Identifies the name of a division.",
        "department": "Identifies the name of a department.",
        "manager": "The User's manager. A complex type that optionally allows service "
        "providers to represent organizational hierarchy by referencing the 'id' attribute of "
        "another User.",
        "manager.value": "The id of the SCIM resource representing the User's manager.  REQUIRED.",
        "manager.$ref": "The URI of the SCIM resource representing the User's manager.  REQUIRED.",
        "manager.displayName": "The displayName of the User's manager. OPTIONAL and READ-ONLY.",
    },
}

GROUP: dict[str, Any] = {
    "name": "Group",
    "description": "Group",
    "attributes": {
        "displayName": "A human-readable name for the Group. REQUIRED.",
        "members": "A list of members of the Group.",
        "members.value": "Identifier of the member of this Group.",
        "members.$ref": "The URI corresponding to a SCIM resource that is a member of this Group.",
        "members.type": "A label indicating the type of resource, e.g., 'User' or 'Group'.",
        # Not in §8.7.1's Group (its members have no display); Roster returns the member's
        # name there, read-only, in the words the RFC uses for every other display.
        "members.display": _DISPLAY,
    },
}


def describe(document: dict[str, Any], text: dict[str, Any]) -> None:
    """Lay the RFC's name and descriptions over a schema document, in place."""
    document["name"] = text["name"]
    document["description"] = text["description"]
    words = text["attributes"]
    for attribute in document["attributes"]:
        if attribute["name"] in words:
            attribute["description"] = words[attribute["name"]]
        for sub in attribute.get("subAttributes", []):
            path = f"{attribute['name']}.{sub['name']}"
            if path in words:
                sub["description"] = words[path]
