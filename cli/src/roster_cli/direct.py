"""Administration straight to a database: the embedded data directory (or ``--database-url``).

Each operation checks that the schema is the newest (it never migrates: see
:mod:`roster_cli.schema`), then runs one transaction of the user-store's own functions (the same
ones behind its admin HTTP API). On SQLite this works beside a running ``roster dev``: the engine
uses WAL and a busy timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import ValidationError
from roster_shared.tenants import ProvisioningMode, TenantInfo
from sqlmodel.ext.asyncio.session import AsyncSession
from sso_login.connections import OidcConnection, SsoConfig
from sso_login.saml import SamlError, parse_idp_metadata
from user_store import reconciler_state, tenants
from user_store.db import create_engine, session_factory
from user_store.tenants import IssuedToken, TokenInfo

from roster_cli.data import describe_url
from roster_cli.failures import CommandFailed
from roster_cli.schema import require_newest

T = TypeVar("T")


async def in_transaction(
    url: str, work: Callable[[AsyncSession], Awaitable[T]], *, migrate_hint: str | None = None
) -> T:
    """Run ``work`` in one transaction on the database at ``url``, if its schema is the newest.

    ``migrate_hint`` is the command the error names when it is not (default:
    ``roster migrate --database-url <url>``).
    """
    engine = create_engine(url)
    try:
        where = describe_url(url)
        await require_newest(
            engine, where, migrate_hint or f"roster migrate --database-url {where}"
        )
        # The user-store's factory makes sqlmodel sessions; mypy only sees SQLAlchemy's type.
        session = cast(AsyncSession, session_factory(engine)())
        async with session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class DatabaseAdmin:
    """Tenants, tokens and settings of the database at ``url``."""

    url: str
    migrate_hint: str | None = None

    async def _do(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await in_transaction(self.url, work, migrate_hint=self.migrate_hint)

    # -- tenants and tokens ------------------------------------------------------------------

    async def create_tenant(
        self, slug: str, mode: ProvisioningMode, display_name: str | None
    ) -> TenantInfo:
        async def work(session: AsyncSession) -> TenantInfo:
            return await tenants.create_tenant(session, slug, mode, display_name=display_name)

        return await self._do(work)

    async def list_tenants(self) -> list[TenantInfo]:
        return await self._do(tenants.list_tenants)

    async def tenant(self, ref: str) -> TenantInfo:
        async def work(session: AsyncSession) -> TenantInfo:
            return await tenants.get_tenant(session, ref)

        return await self._do(work)

    async def show(self, ref: str) -> tuple[TenantInfo, list[TokenInfo]]:
        async def work(session: AsyncSession) -> tuple[TenantInfo, list[TokenInfo]]:
            tenant = await tenants.get_tenant(session, ref)
            return tenant, await tenants.list_tokens(session, tenant.id)

        return await self._do(work)

    async def set_mode(self, ref: str, mode: ProvisioningMode) -> TenantInfo:
        async def work(session: AsyncSession) -> TenantInfo:
            return await tenants.update_tenant(session, ref, mode=mode)

        return await self._do(work)

    async def issue_token(self, ref: str, label: str | None) -> IssuedToken:
        async def work(session: AsyncSession) -> IssuedToken:
            return await tenants.issue_token(session, ref, label=label)

        return await self._do(work)

    async def revoke_token(self, ref: str, token_id: str) -> tuple[TenantInfo, TokenInfo]:
        async def work(session: AsyncSession) -> tuple[TenantInfo, TokenInfo]:
            tenant = await tenants.get_tenant(session, ref)
            return tenant, await tenants.revoke_token(session, tenant.id, token_id)

        return await self._do(work)

    # -- SSO connections (validated by sso-login's models, stored in the ``sso`` section) ----

    async def sso(self, ref: str) -> tuple[str, SsoConfig]:
        tenant = await self.tenant(ref)
        return tenant.slug, SsoConfig.of(tenant.settings)

    async def connect_saml(
        self,
        ref: str,
        metadata_xml: str,
        *,
        entity_id: str | None,
        allow_idp_initiated: bool,
        mapping: str | None,
    ) -> tuple[str, SsoConfig]:
        try:
            connection = parse_idp_metadata(metadata_xml, entity_id)
        except SamlError as exc:
            raise CommandFailed("metadata", str(exc)) from exc
        saml = connection.model_copy(update={"allow_idp_initiated": allow_idp_initiated})
        return await self._sso_change(ref, {"saml": saml.model_dump(mode="json")}, mapping)

    async def connect_oidc(
        self, ref: str, oidc: OidcConnection, mapping: str | None
    ) -> tuple[str, SsoConfig]:
        return await self._sso_change(ref, {"oidc": oidc.model_dump(mode="json")}, mapping)

    async def _sso_change(
        self, ref: str, change: dict[str, Any], mapping: str | None
    ) -> tuple[str, SsoConfig]:
        if mapping:
            change["mapping"] = mapping

        async def work(session: AsyncSession) -> tuple[str, SsoConfig]:
            tenant = await tenants.get_tenant(session, ref)
            try:
                current = SsoConfig.of(tenant.settings).model_dump(mode="json", exclude_none=True)
                config = SsoConfig.model_validate({**current, **change})
            except ValidationError as exc:
                raise CommandFailed("invalid", str(exc.errors()[0]["msg"])) from exc
            tenant = await tenants.update_tenant(session, tenant.id, settings=config.section())
            return tenant.slug, config

        return await self._do(work)

    # -- the reconciler's settings and records -----------------------------------------------

    async def put_settings(self, ref: str, section: str, value: dict[str, Any]) -> TenantInfo:
        async def work(session: AsyncSession) -> TenantInfo:
            return await tenants.update_tenant(session, ref, settings={section: value})

        return await self._do(work)

    async def runs(self, ref: str, limit: int) -> tuple[str, list[dict[str, Any]]]:
        async def work(session: AsyncSession) -> tuple[str, list[dict[str, Any]]]:
            tenant = await tenants.get_tenant(session, ref)
            return tenant.slug, await reconciler_state.list_runs(session, tenant.id, limit=limit)

        return await self._do(work)
