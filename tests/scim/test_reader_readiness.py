"""A scim-api reading PostgreSQL as the reader role (``ROSTER_READER_DATABASE_URL``) depends on
that database for every token check: ``/readyz`` says so, on Kafka + PostgreSQL."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
from roster_shared.bus.kafka import KafkaBus
from roster_testing.topics import topic_prefix
from scim_api.reader import reader_dsn

from tests.scim.stack import ScimStack, reader_role, scim_stack
from tests.scim.test_bad_input import USER, assert_scim_error


async def _ready(stack: ScimStack) -> int:
    async with stack.http.get(f"{stack.url}/readyz") as response:
        return response.status


async def _until_ready_is(stack: ScimStack, status: int) -> None:
    async with asyncio.timeout(30):
        while await _ready(stack) != status:
            await asyncio.sleep(0.2)


async def test_readiness_fails_while_the_reader_database_refuses_and_recovers_with_it(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    async with reader_role(fresh_database_url) as reader_url:
        role = urlsplit(reader_url).username
        bus = KafkaBus(kafka_bootstrap, client_id="scim-reader-ready")
        async with scim_stack(
            bus,
            fresh_database_url,
            topic_prefix=topic_prefix("rr"),
            scim_settings={"reader_database_url": reader_url},
        ) as stack:
            tenant = await stack.tenant()
            status, made, _ = await tenant.request(
                "POST", "/Users", json={"schemas": [USER], "userName": "ready@example.com"}
            )
            assert status == 201, made
            assert await _ready(stack) == 200
            admin = await asyncpg.connect(reader_dsn(fresh_database_url))
            try:
                # The reader role may no longer log in, and its connections are cut.
                await admin.execute(f'ALTER ROLE "{role}" NOLOGIN')
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                    role,
                )
                status, body, headers = await tenant.request("GET", f"/Users/{made['id']}")
                # Ours to fix, not the client's: a 503, never a 401 for its token.
                assert_scim_error(status, body, 503, None)
                assert "Retry-After" in headers
                await _until_ready_is(stack, 503)
                await admin.execute(f'ALTER ROLE "{role}" LOGIN')
                await _until_ready_is(stack, 200)
            finally:
                await admin.execute(f'ALTER ROLE "{role}" LOGIN')
                await admin.close()
            status, got, _ = await tenant.request("GET", f"/Users/{made['id']}")
            assert status == 200 and got["id"] == made["id"]
