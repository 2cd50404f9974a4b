"""The user-store, scim-api and webhooks service composed on one port (as ``roster dev`` does),
on the bus and database a test chooses, and the receiver process the webhooks go to."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from roster_cli import compose
from roster_shared.bus.base import Bus

from tests.scim.stack import ScimStack, Tenant, scim_stack

RECEIVER = Path(__file__).with_name("receiver.py")

WEBHOOK_SETTINGS = {
    "allow_loopback": True,  # the receiver is on this machine, as in `roster dev`
    "retry_base": 0.05,
    "retry_cap": 0.5,
    "retry_for": 4.0,
    "poll_interval": 0.1,
    "max_response_bytes": 4096,
    "delivery_timeout": 5.0,
    "lease_seconds": 10.0,
}


class Receiver:
    """The receiver process (``receiver.py``) and a client of its control paths."""

    def __init__(self, process: subprocess.Popen[str], port: int, http: aiohttp.ClientSession):
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.http = http

    def url(self, behaviour: str, name: str, query: str = "") -> str:
        return f"{self.base}/{behaviour}/{name}" + (f"?{query}" if query else "")

    async def trust(self, name: str, *secrets_: str) -> None:
        async with self.http.put(f"{self.base}/_secrets/{name}", json=list(secrets_)) as r:
            assert r.status == 204

    async def heal(self, name: str) -> None:
        async with self.http.post(f"{self.base}/_heal/{name}") as r:
            assert r.status == 204

    async def log(self, name: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/_log/{name}") as r:
            return dict(await r.json())

    async def wait(self, name: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until ``name`` accepted (2xx) ``count`` messages; returns every request."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            messages = (await self.log(name))["messages"]
            if sum(1 for m in messages if m["status"] < 300) >= count:
                return list(messages)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{name}: {len(messages)} requests: {messages}")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    process = subprocess.Popen([sys.executable, str(RECEIVER)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)  # "listening <port>"
        port = int(line.split()[1])
        async with aiohttp.ClientSession() as http:
            yield Receiver(process, port, http)
    finally:
        process.terminate()
        process.communicate(timeout=30)


class HookStack(ScimStack):
    """A ScimStack that also serves the webhooks admin API."""

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        url = f"{self.url}/webhooks/admin/tenants/{path}"
        async with self.http.request(method, url, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def endpoint(self, tenant: Tenant, url: str) -> tuple[str, str]:
        """Register ``url`` for ``tenant``: (endpoint id, signing secret)."""
        status, body = await self.admin("POST", f"{tenant.info.slug}/endpoints", {"url": url})
        assert status == 201, body
        return body["endpoint"]["id"], body["secret"]

    async def attempts(self, tenant: Tenant, endpoint: str) -> list[dict[str, Any]]:
        """Oldest first."""
        status, body = await self.admin(
            "GET", f"{tenant.info.slug}/endpoints/{endpoint}/attempts?limit=100"
        )
        assert status == 200, body
        return list(reversed(body["attempts"]))

    async def show(self, tenant: Tenant, endpoint: str) -> dict[str, Any]:
        status, body = await self.admin("GET", f"{tenant.info.slug}/endpoints/{endpoint}")
        assert status == 200, body
        return dict(body)


@contextlib.asynccontextmanager
async def webhook_stack(
    bus: Bus, database_url: str, *, topic_prefix: str, webhooks: dict[str, Any] | None = None
) -> AsyncIterator[HookStack]:
    """scim_stack with the webhooks service on the same root."""
    async with scim_stack(
        bus,
        database_url,
        topic_prefix=topic_prefix,
        request_timeout=None,
        also={compose.WEBHOOKS: {**WEBHOOK_SETTINGS, **(webhooks or {})}},
        kind=HookStack,
    ) as stack:
        assert isinstance(stack, HookStack)
        yield stack
