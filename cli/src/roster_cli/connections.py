"""``roster connection saml|oidc|show``: a tenant's SSO connections, through an admin.

In production through sso-login's admin API (``/sso/admin/tenants/...``); on the embedded data
directory straight to its database, also beside a live ``roster dev``: sso-login reads the
connection with every tenant lookup, so the next login uses it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sso_login.connections import SAFE_OIDC_ALGORITHMS, OidcConnection, SsoConfig
from sso_login.mapping import PRESETS
from sso_login.saml import sp_urls

from roster_cli.failures import CommandFailed
from roster_cli.tenants import Admin, Outcome

ConnectionError_ = CommandFailed  # the name this module's callers knew
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``roster connection ...`` on the CLI's sub-command table."""
    connection = commands.add_parser(
        "connection",
        help="connect a tenant to its identity provider (SAML or OIDC)",
        description="Connect a tenant to its customer's identity provider for single sign-on "
        "(also while `roster dev` runs on the same data).",
    )
    kinds = connection.add_subparsers(dest="connection_kind", required=True, metavar="KIND")
    saml = kinds.add_parser(
        "saml",
        parents=common,
        help="connect a SAML 2.0 IdP from its metadata XML",
        description="Import the IdP's metadata (entity id, SSO URL, signing certificates).",
    )
    saml.add_argument("slug", metavar="TENANT")
    saml.add_argument("--metadata", required=True, metavar="FILE", help="the IdP's metadata XML")
    saml.add_argument("--entity-id", help="which IdP, when the file describes several")
    saml.add_argument(
        "--allow-idp-initiated",
        action="store_true",
        help="accept unsolicited responses (IdP-initiated login); off by default",
    )
    _mapping_option(saml)
    oidc = kinds.add_parser(
        "oidc",
        parents=common,
        help="connect an OpenID provider",
        description="Connect an OpenID provider by its issuer (discovery at login time).",
    )
    oidc.add_argument("slug", metavar="TENANT")
    oidc.add_argument("--issuer", required=True, metavar="URL")
    oidc.add_argument("--client-id", required=True, metavar="ID")
    oidc.add_argument("--client-secret", required=True, metavar="SECRET")
    oidc.add_argument(
        "--scopes", default="openid email profile", help="space-separated (openid email profile)"
    )
    oidc.add_argument(
        "--algorithms",
        default="RS256 ES256 PS256",
        help=f"allowed ID token algorithms, among {' '.join(sorted(SAFE_OIDC_ALGORITHMS))}",
    )
    _mapping_option(oidc)
    show = kinds.add_parser("show", parents=common, help="show a tenant's SSO connections")
    show.add_argument("slug", metavar="TENANT")


def _mapping_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mapping",
        choices=sorted(PRESETS),
        help="attribute mapping preset for this IdP (default: generic)",
    )
    parser.add_argument(
        "--public-url",
        help="Roster's public base URL, to print the URLs for the IdP (default: --url, else "
        f"{DEFAULT_PUBLIC_URL})",
    )


def _public(config: SsoConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json", exclude_none=True)
    if "oidc" in data:
        data["oidc"]["client_secret"] = "***"  # noqa: S105 - masking, not a secret
    return data


def read_metadata(path: str) -> str:
    """The IdP metadata file's text."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandFailed("metadata", f"cannot read {path}: {exc}") from exc


async def run(
    args: argparse.Namespace,
    admin: Admin,
    metadata_xml: str | None = None,
    *,
    base: str | None = None,
) -> Outcome:
    """Carry out ``roster connection ...`` (``metadata_xml``: the file read beforehand;
    ``base``: the ``--url`` the command talks to, if any)."""
    kind: str = args.connection_kind
    if kind == "show":
        slug, config = await admin.sso(args.slug)
        data = {"tenant": slug, **_public(config)}
        lines = [f"Tenant {slug!r}:"]
        lines.append(f"  SAML: {config.saml.idp_entity_id if config.saml else 'not connected'}")
        lines.append(f"  OIDC: {config.oidc.issuer if config.oidc else 'not connected'}")
        return Outcome(data, "\n".join(lines))
    public_url = args.public_url or base or DEFAULT_PUBLIC_URL
    if kind == "saml":
        slug, config = await admin.connect_saml(
            args.slug,
            metadata_xml or "",
            entity_id=args.entity_id,
            allow_idp_initiated=args.allow_idp_initiated,
            mapping=args.mapping,
        )
        saml = config.saml
        assert saml is not None
        urls = sp_urls(public_url, slug)
        text = "\n".join(
            [
                f"Tenant {slug!r} now signs in with SAML IdP {saml.idp_entity_id}",
                f"  IdP SSO URL:       {saml.sso_url} ({saml.sso_binding})",
                f"  signing certs:     {len(saml.signing_certs)}",
                f"  IdP-initiated:     {'allowed' if saml.allow_idp_initiated else 'refused'}",
                "In the IdP, use (or import the metadata URL):",
                f"  SP entity id:      {urls.entity_id}",
                f"  ACS URL:           {urls.acs_url}",
                f"  SP metadata:       {urls.metadata_url}",
                f"Try it: {public_url}/sso/{slug}/login",
            ]
        )
        return Outcome({"tenant": slug, **_public(config)}, text)
    try:
        oidc = OidcConnection(
            issuer=args.issuer,
            client_id=args.client_id,
            client_secret=args.client_secret,
            scopes=tuple(args.scopes.split()),
            algorithms=tuple(args.algorithms.split()),
        )
    except ValidationError as exc:
        raise CommandFailed("invalid", str(exc.errors()[0]["msg"])) from exc
    slug, config = await admin.connect_oidc(args.slug, oidc, args.mapping)
    redirect = f"{public_url.rstrip('/')}/sso/{slug}/oidc/callback"
    text = "\n".join(
        [
            f"Tenant {slug!r} now signs in with OpenID provider {oidc.issuer}",
            f"  client id:         {oidc.client_id}",
            f"  scopes:            {' '.join(oidc.scopes)}",
            f"  algorithms:        {' '.join(oidc.algorithms)}",
            "Register this redirect URI with the provider:",
            f"  {redirect}",
            f"Try it: {public_url}/sso/{slug}/oidc/login",
        ]
    )
    return Outcome({"tenant": slug, **_public(config)}, text)
