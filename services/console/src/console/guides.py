"""Step-by-step setup guides per identity provider, for the customer's IT admin.

Steps name the vendor's own screens and fields (from each vendor's published admin docs) and
refer to our values by key — ``{entity_id}``, ``{acs_url}``, ``{metadata_url}``,
``{redirect_uri}``, ``{scim_base}`` — which the portal fills in and shows as copyable fields.
The attribute names are the ones sso-login's mapping presets read (``sso_login.mapping``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guide:
    """One IdP's guide."""

    key: str
    name: str
    protocol: str  # "saml" or "oidc": which form the guide ends with
    mapping: str  # sso-login's mapping preset for this IdP
    sso_steps: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...]  # (attribute name to send, what it carries)
    scim_steps: tuple[str, ...]
    scim_note: str = ""


SAML_ATTRIBUTES = (
    ("NameID (format: Persistent or EmailAddress)", "the person's stable id or work e-mail"),
    ("email", "work e-mail address"),
    ("firstName", "given name"),
    ("lastName", "family name"),
    ("groups", "group names (optional; multi-valued)"),
)

GUIDES: dict[str, Guide] = {
    "okta": Guide(
        "okta",
        "Okta",
        "saml",
        "okta",
        (
            "In the Okta Admin Console open Applications → Applications → Create App Integration,"
            " choose SAML 2.0 and press Next.",
            "Give the app a name, press Next. Under SAML Settings set Single sign-on URL to "
            "{acs_url} and tick 'Use this for Recipient URL and Destination URL'.",
            "Set Audience URI (SP Entity ID) to {entity_id}.",
            "Set Name ID format to Persistent (or EmailAddress) and Application username to "
            "Okta username.",
            "Under Attribute Statements add the attributes listed below; under Group Attribute "
            "Statements add 'groups' with a filter (e.g. Matches regex .*).",
            "Finish, then on the Sign On tab copy the 'Metadata URL' document (View SAML setup "
            "instructions → IdP metadata) and upload it in the form below.",
            "Assign the app to yourself, then use Test sign-in below.",
        ),
        SAML_ATTRIBUTES,
        (
            "On the app's General tab press Edit under App Settings and set Provisioning to SCIM.",
            "On the Provisioning tab → Integration: SCIM connector base URL {scim_base}, Unique "
            "identifier field for users: userName, Supported provisioning actions: Push New "
            "Users, Push Profile Updates, Push Groups; Authentication Mode: HTTP Header.",
            "Paste the SCIM token minted below as the Bearer token, press Test Connector "
            "Configuration, then Save.",
            "Under Provisioning → To App enable Create Users, Update User Attributes and "
            "Deactivate Users.",
        ),
        "Okta pushes SCIM on plans with Lifecycle Management.",
    ),
    "entra": Guide(
        "entra",
        "Microsoft Entra ID",
        "saml",
        "entra",
        (
            "In the Microsoft Entra admin center open Enterprise applications → New application "
            "→ Create your own application ('Integrate any other application you don't find in "
            "the gallery').",
            "Open Single sign-on → SAML. In Basic SAML Configuration set Identifier (Entity ID) "
            "to {entity_id} and Reply URL (Assertion Consumer Service URL) to {acs_url}.",
            "Under Attributes & Claims keep the default claims (they carry e-mail, names and the "
            "object id); add a group claim if you want groups.",
            "Under SAML Certificates download 'Federation Metadata XML' and upload it below.",
            "Assign yourself under Users and groups, then use Test sign-in below.",
        ),
        (
            ("NameID", "user.userprincipalname (default)"),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "user.mail"),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "given name"),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "family name"),
            ("http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "groups"),
        ),
        (
            "Open Provisioning → Get started, set Provisioning Mode to Automatic.",
            "Tenant URL: {scim_base}; Secret Token: the SCIM token minted below. Press Test "
            "Connection, then Save.",
            "Under Mappings keep userName ← userPrincipalName and externalId ← objectId; set "
            "Provisioning Status On. Entra ID pushes changes about every 40 minutes.",
        ),
        "Entra ID quarantines an app whose requests fail too often (above about 40 %): watch "
        "the failure share on this page.",
    ),
    "google": Guide(
        "google",
        "Google Workspace",
        "saml",
        "google",
        (
            "In the Google Admin console open Apps → Web and mobile apps → Add app → Add custom "
            "SAML app; name it and continue.",
            "On 'Google Identity Provider details' press Download Metadata and keep the file.",
            "On 'Service provider details' set ACS URL to {acs_url}, Entity ID to {entity_id}, "
            "Name ID format EMAIL and Name ID Basic Information → Primary email.",
            "Under Attribute mapping map First name → firstName, Last name → lastName, Primary "
            "email → email; under Group membership send groups as 'groups'.",
            "Upload the metadata file below, switch the app ON for your users, then use Test "
            "sign-in below.",
        ),
        SAML_ATTRIBUTES,
        (),
        "Google Workspace does not push SCIM to custom SAML apps: use mode jit with the "
        "reconciler's Google directory check, and read the access-removal delay below.",
    ),
    "onelogin": Guide(
        "onelogin",
        "OneLogin",
        "saml",
        "onelogin",
        (
            "In OneLogin Administration open Applications → Add App and pick 'SCIM Provisioner "
            "with SAML (SCIM v2 Enterprise)'.",
            "On Configuration set SAML Audience URL to {entity_id}, SAML Consumer URL to "
            "{acs_url}.",
            "On Parameters make sure Email, First Name, Last Name and Groups are sent as "
            "email, firstName, lastName and groups.",
            "Under More Actions → SAML Metadata download the metadata and upload it below.",
        ),
        SAML_ATTRIBUTES,
        (
            "On Configuration set SCIM Base URL to {scim_base} and SCIM Bearer Token to the "
            "token minted below; press Enable under API Connection.",
            "On Provisioning tick Enable provisioning and the create/delete/update actions.",
        ),
    ),
    "jumpcloud": Guide(
        "jumpcloud",
        "JumpCloud",
        "saml",
        "jumpcloud",
        (
            "In the JumpCloud Admin Portal open SSO Applications → Add New Application → Custom "
            "Application, with 'Manage Single Sign-On (SSO)' and 'Configure SSO with SAML'.",
            "Set SP Entity ID to {entity_id} and ACS URL to {acs_url}; IdP Entity ID as you "
            "like; SAMLSubject NameID: email.",
            "Add the attributes below (email, firstName, lastName) and enable the group "
            "attribute named 'groups'.",
            "Save, then Export Metadata and upload it below.",
        ),
        SAML_ATTRIBUTES,
        (
            "On the application's Identity Management tab choose SCIM 2.0, Base URL {scim_base}, "
            "Token Key: the token minted below; Test Connection, then Activate.",
        ),
    ),
    "saml": Guide(
        "saml",
        "Another SAML 2.0 IdP",
        "saml",
        "generic",
        (
            "Create a SAML 2.0 application (service provider) in your IdP.",
            "Entity ID / Audience: {entity_id}. ACS URL (HTTP-POST binding): {acs_url}. Our "
            "metadata is at {metadata_url} if your IdP imports it.",
            "Sign the assertion (or the response) with RSA-SHA256; NameID Persistent or "
            "EmailAddress.",
            "Send the attributes below, then upload your IdP's metadata XML.",
        ),
        SAML_ATTRIBUTES,
        (
            "If your IdP can push SCIM 2.0: base URL {scim_base}, HTTP header authentication "
            "with the bearer token minted below.",
        ),
    ),
    "oidc": Guide(
        "oidc",
        "An OpenID Connect provider",
        "oidc",
        "generic",
        (
            "Register a web application (confidential client) with your OpenID provider, using "
            "the authorization code flow.",
            "Redirect URI: {redirect_uri}.",
            "Scopes: openid email profile (and groups if your provider has it). The ID token "
            "must be signed with RS256, ES256 or PS256.",
            "Enter the issuer URL, client id and client secret in the form below.",
        ),
        (
            ("sub", "stable subject id (with iss, the only identity key used)"),
            ("email + email_verified", "work e-mail, verified"),
            ("given_name / family_name", "names"),
            ("groups", "group names (optional)"),
        ),
        ("If your provider can push SCIM 2.0: base URL {scim_base}, bearer token minted below.",),
    ),
}


def fill(text: str, values: dict[str, str]) -> str:
    """A step with our values in it."""
    return text.format(**values)
