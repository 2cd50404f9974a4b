"""``roster connection saml|oidc|show``: a tenant's SSO connections, straight to the database.

Like ``roster tenant``, these run beside a live ``roster dev`` on the same data: sso-login reads
the connection with every tenant lookup, so the next login uses it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from roster_shared.tenants import TenantInfo
from sqlmodel.ext.asyncio.session import AsyncSession
from sso_login.connections import SAFE_OIDC_ALGORITHMS, OidcConnection, SsoConfig
from sso_login.mapping import PRESETS
from sso_login.saml import SamlError, parse_idp_metadata, sp_urls
from user_store import tenants

from roster_cli.tenants import Outcome, in_transaction


class ConnectionError_(Exception):
    """The connection cannot be made as asked; ``code`` names the kind of failure."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


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
        default="http://127.0.0.1:8000",
        help="Roster's public base URL, to print the URLs for the IdP (http://127.0.0.1:8000)",
    )


async def _update(url: str, slug: str, change: dict[str, Any]) -> tuple[TenantInfo, SsoConfig]:
    async def work(session: AsyncSession) -> tuple[TenantInfo, SsoConfig]:
        tenant = await tenants.get_tenant(session, slug)
        try:
            current = SsoConfig.of(tenant.settings).model_dump(mode="json", exclude_none=True)
            config = SsoConfig.model_validate({**current, **change})
        except ValidationError as exc:
            raise ConnectionError_("invalid", str(exc.errors()[0]["msg"])) from exc
        tenant = await tenants.update_tenant(session, tenant.id, settings=config.section())
        return tenant, config

    return await in_transaction(url, work)


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
        raise ConnectionError_("metadata", f"cannot read {path}: {exc}") from exc


async def run(args: argparse.Namespace, url: str, metadata_xml: str | None = None) -> Outcome:
    """Carry out ``roster connection ...`` (``metadata_xml``: the file read beforehand)."""
    kind: str = args.connection_kind
    if kind == "show":

        async def read(session: AsyncSession) -> TenantInfo:
            return await tenants.get_tenant(session, args.slug)

        tenant = await in_transaction(url, read)
        config = SsoConfig.of(tenant.settings)
        data = {"tenant": tenant.slug, **_public(config)}
        lines = [f"Tenant {tenant.slug!r}:"]
        lines.append(f"  SAML: {config.saml.idp_entity_id if config.saml else 'not connected'}")
        lines.append(f"  OIDC: {config.oidc.issuer if config.oidc else 'not connected'}")
        return Outcome(data, "\n".join(lines))
    change: dict[str, Any] = {}
    if args.mapping:
        change["mapping"] = args.mapping
    if kind == "saml":
        try:
            connection = parse_idp_metadata(metadata_xml or "", args.entity_id)
        except SamlError as exc:
            raise ConnectionError_("metadata", str(exc)) from exc
        saml = connection.model_copy(update={"allow_idp_initiated": args.allow_idp_initiated})
        change["saml"] = saml.model_dump(mode="json")
        tenant, config = await _update(url, args.slug, change)
        urls = sp_urls(args.public_url, tenant.slug)
        text = "\n".join(
            [
                f"Tenant {tenant.slug!r} now signs in with SAML IdP {connection.idp_entity_id}",
                f"  IdP SSO URL:       {connection.sso_url} ({connection.sso_binding})",
                f"  signing certs:     {len(connection.signing_certs)}",
                f"  IdP-initiated:     {'allowed' if saml.allow_idp_initiated else 'refused'}",
                "In the IdP, use (or import the metadata URL):",
                f"  SP entity id:      {urls.entity_id}",
                f"  ACS URL:           {urls.acs_url}",
                f"  SP metadata:       {urls.metadata_url}",
                f"Try it: {args.public_url}/sso/{tenant.slug}/login",
            ]
        )
        return Outcome({"tenant": tenant.slug, **_public(config)}, text)
    try:
        oidc = OidcConnection(
            issuer=args.issuer,
            client_id=args.client_id,
            client_secret=args.client_secret,
            scopes=tuple(args.scopes.split()),
            algorithms=tuple(args.algorithms.split()),
        )
    except ValidationError as exc:
        raise ConnectionError_("invalid", str(exc.errors()[0]["msg"])) from exc
    change["oidc"] = oidc.model_dump(mode="json")
    tenant, config = await _update(url, args.slug, change)
    redirect = f"{args.public_url.rstrip('/')}/sso/{tenant.slug}/oidc/callback"
    text = "\n".join(
        [
            f"Tenant {tenant.slug!r} now signs in with OpenID provider {oidc.issuer}",
            f"  client id:         {oidc.client_id}",
            f"  scopes:            {' '.join(oidc.scopes)}",
            f"  algorithms:        {' '.join(oidc.algorithms)}",
            "Register this redirect URI with the provider:",
            f"  {redirect}",
            f"Try it: {args.public_url}/sso/{tenant.slug}/oidc/login",
        ]
    )
    return Outcome({"tenant": tenant.slug, **_public(config)}, text)
