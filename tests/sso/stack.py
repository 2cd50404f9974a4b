"""sso-login on a real user-store (bus + database), a browser, and a pysaml2 IdP, for tests.

Two pairings: the in-process bus on SQLite (`roster dev`) and Kafka on PostgreSQL (production).
The user-store runs as its own HTTP application (tenant lookups, replay claims) and consumer;
sso-login reaches it over HTTP and the bus exactly as it does in production. Both are built by
:mod:`roster_cli.compose`, the one place that wires services.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from roster_cli import compose
from roster_shared.bus.base import Bus
from roster_shared.bus.ingest import IngestClient
from roster_shared.bus.requests import Requester
from roster_shared.events.envelope import EnvelopeBase
from roster_shared.events.people import UserSnapshot
from roster_shared.events.replies import Reply
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from roster_testing.topics import topic_prefix
from sqlalchemy.ext.asyncio import AsyncEngine
from sso_login.keys import CONTEXT
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory

from tests.integration.harness import Collector, memory_bus
from tests.sso.refusals import Refusals
from tests.sso.saml_idp import Keys, SamlIdP

INTERNAL = "internal-secret"


@dataclass
class Browser:
    """A browser: a cookie jar that treats the test origin as secure (Secure cookies)."""

    session: aiohttp.ClientSession
    base: str

    async def get(self, url: str, **kw: Any) -> aiohttp.ClientResponse:
        async with self.session.get(self._abs(url), allow_redirects=False, **kw) as response:
            await response.read()
            return response

    async def post(self, url: str, **kw: Any) -> aiohttp.ClientResponse:
        async with self.session.post(self._abs(url), allow_redirects=False, **kw) as response:
            await response.read()
            return response

    def _abs(self, url: str) -> str:
        return url if url.startswith("http") else self.base + url


class SsoStack:
    """A running user-store and sso-login on one bus and database."""

    def __init__(
        self,
        bus: Bus,
        engine: AsyncEngine,
        database_url: str,
        tmp: Path,
        sso_settings: dict[str, Any] | None = None,
    ) -> None:
        self.bus = bus
        self.engine = engine
        self.database_url = database_url
        self.tmp = tmp
        self.topics = Topics(topic_prefix("sso"))
        self.sessions = session_factory(engine)
        self.requester = Requester(bus, topic=self.topics.replies)
        self.ingest = IngestClient(self.requester, self.topics.ingest, timeout=30)
        # The public URL must be known before the server starts (it is in the wiring), so its
        # port is reserved now by binding it, and that very socket is the one served: a port
        # only probed free could be taken in between ("Address already in use" in CI, 2026-12-05).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self._servers: list[TestServer] = []
        self._clients: list[aiohttp.ClientSession] = []
        self.sso_app: web.Application | None = None
        self.sp_keys: Keys | None = None
        self.sso_settings = sso_settings or {}
        self.refusals = Refusals()
        """Why each error page was refused (tests assert the reason, not just the status)."""

    async def start(self) -> None:
        self.refusals.install()
        await self.bus.start()
        await self.bus.ensure_topics(self.topics.specs(2))
        await migrate(self.engine)
        sp = self.sp_keys
        wiring = compose.Wiring(
            database_url=self.database_url,
            self_url="",  # the user-store's own server, known once it listens
            public_url=self.base,
            admin_token="admin",
            internal_token=INTERNAL,
            topic_prefix=self.topics.prefix,
            session_secret="s" * 32,
            overrides={
                "user-store": {"consumer_group": f"us-{uuid.uuid4().hex[:8]}"},
                compose.SSO_LOGIN: {
                    "admin_token": "sso-admin",
                    "jwks_refetch_interval": 30,
                    "saml_sp_cert": sp.cert_file.read_text() if sp else None,
                    "saml_sp_key": sp.key_file.read_text() if sp else None,
                    **self.sso_settings,
                },
            },
        )
        store = compose.user_store(wiring, bus=self.bus, engine=self.engine)
        store_server = TestServer(store)
        await store_server.start_server()
        self._servers.append(store_server)
        wiring = dataclasses.replace(wiring, self_url=str(store_server.make_url("")).rstrip("/"))
        # On SQLite sso-login reads from the user-store in process, as `roster dev` composes it;
        # on PostgreSQL over HTTP, as in production.
        in_process = store if self.database_url.startswith("sqlite") else None
        self.sso_app = compose.service_api(
            compose.SSO_LOGIN, wiring, bus=self.bus, user_store_app=in_process
        )
        root = web.Application()
        root.add_subapp(compose.prefix(compose.SSO_LOGIN), self.sso_app)
        sso_server = TestServer(root, port=self.port, socket_factory=lambda *_: self._socket)
        await sso_server.start_server()
        self._servers.append(sso_server)
        await self.requester.start()

    async def stop(self) -> None:
        for client in self._clients:
            await client.close()
        await self.requester.stop()
        for server in reversed(self._servers):
            await server.close()
        await self.bus.stop()
        await self.engine.dispose()
        self._socket.close()  # served and closed with its server, or never served
        self.refusals.uninstall()

    @property
    def providers(self) -> Any:
        assert self.sso_app is not None
        return self.sso_app[CONTEXT].providers

    def browser(self) -> Browser:
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[self.base])
        client = aiohttp.ClientSession(cookie_jar=jar)
        self._clients.append(client)
        return Browser(client, self.base)

    async def tenant(
        self,
        slug: str,
        mode: ProvisioningMode = ProvisioningMode.SCIM_JIT,
        sso: dict[str, Any] | None = None,
    ) -> TenantInfo:
        async with self.sessions() as session, session.begin():
            tenant = await tenants.create_tenant(session, slug, mode)
            if sso is not None:
                tenant = await tenants.update_tenant(session, tenant.id, settings={"sso": sso})
            return tenant

    async def configure(self, slug: str, sso: dict[str, Any]) -> None:
        async with self.sessions() as session, session.begin():
            await tenants.update_tenant(session, slug, settings={"sso": sso})

    async def test_ticket(self, slug: str) -> str:
        """A Test sign-in ticket, minted as the setup portal mints one: the admin API."""
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                f"{self.base}/sso/admin/tenants/{slug}/test-tickets",
                headers={"Authorization": "Bearer sso-admin"},
            ) as response,
        ):
            assert response.status == 201, await response.text()
            return str((await response.json())["ticket"])

    async def user(self, tenant_id: str, user_id: str) -> UserSnapshot:
        from user_store import queries

        async with self.sessions() as session:
            return await queries.get_user(session, tenant_id, user_id)

    async def send(self, event: EnvelopeBase) -> Reply:
        """Submit an ingestion event (as scim-api would) and wait for the user-store's reply."""
        return await self.ingest.submit(event)

    async def collect_lifecycle(self) -> Collector:
        collector = Collector()
        sub = self.bus.subscribe(f"t-{uuid.uuid4().hex[:8]}", [self.topics.lifecycle], collector)
        await sub.start()
        return collector

    def sp(self, slug: str) -> tuple[str, str]:
        """(entity id, ACS URL) of our SP for the tenant."""
        base = f"{self.base}/sso/{slug}/saml"
        return f"{base}/metadata", f"{base}/acs"

    async def sp_metadata(self, slug: str) -> str:
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"{self.base}/sso/{slug}/saml/metadata") as response,
        ):
            assert response.status == 200
            return await response.text()

    async def saml_idp(self, *slugs: str, **kw: Any) -> SamlIdP:
        """A pysaml2 IdP that imported the SP metadata of these tenants."""
        metadata = [await self.sp_metadata(slug) for slug in slugs]
        return SamlIdP(self.tmp / uuid.uuid4().hex[:6], metadata, **kw)


async def open_stack(
    kind: str,
    tmp: Path,
    request: Any,
    *,
    sp_keys: Keys | None = None,
    sso_settings: dict[str, Any] | None = None,
) -> SsoStack:
    if kind == "memory-sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'roster.db'}"
        bus: Bus = memory_bus()
    else:
        from roster_shared.bus.kafka import KafkaBus

        url = request.getfixturevalue("fresh_database_url")
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="sso-test")
    stack = SsoStack(bus, create_engine(url), url, tmp, sso_settings)
    stack.sp_keys = sp_keys
    await stack.start()
    return stack


def saml_request_id(idp: SamlIdP, location: str) -> tuple[str, str]:
    """What the IdP reads from our redirect: the AuthnRequest id and the ACS URL."""
    from saml2 import BINDING_HTTP_REDIRECT

    query = parse_qs(urlsplit(location).query)
    parsed = idp.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
    return parsed.message.id, parsed.message.assertion_consumer_service_url


async def saml_login(
    stack: SsoStack,
    browser: Browser,
    idp: SamlIdP,
    slug: str,
    name_id: str,
    attributes: dict[str, list[str]],
    *,
    return_to: str | None = None,
    **response: Any,
) -> aiohttp.ClientResponse:
    """SP-initiated login through the IdP; the ACS answer (``response``: options of
    :meth:`SamlIdP.response_xml`, such as ``name_id_format``)."""
    query = f"?return_to={return_to}" if return_to else ""
    start = await browser.get(f"/sso/{slug}/saml/login{query}")
    assert start.status == 303, await start.text()
    request_id, acs = saml_request_id(idp, start.headers["Location"])
    entity_id, _ = stack.sp(slug)
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id=name_id,
        in_response_to=request_id,
        attributes=attributes,
        **response,
    )
    return await browser.post(acs, data={"SAMLResponse": encoded})


async def wait_until(predicate: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
