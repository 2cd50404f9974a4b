"""A refused sign-in and a SCIM error: the reason and reference id reach the log line in both
log formats and the request log the console shows — the same reference the person was given."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from roster_cli import compose
from roster_shared.bus.memory import MemoryBus
from roster_shared.observability import JsonFormatter, TextFormatter
from user_store.db import create_engine, migrate

ADMIN = "admin"
INTERNAL = "internal"


@pytest.fixture
def log_lines() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    text, lines = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(lines)]
    handlers[0].setFormatter(TextFormatter())
    handlers[1].setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    yield text, lines
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def roster(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
    engine = create_engine(url)
    await migrate(engine)
    sock = compose.bind("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wiring = compose.Wiring(
        database_url=url,
        self_url=base,
        admin_token=ADMIN,
        internal_token=INTERNAL,
        session_secret="s" * 32,
        overrides={compose.RECONCILER: {"schedule": False}},
    )
    bus = MemoryBus()
    await bus.start()
    try:
        app = compose.compose(wiring, bus=bus, engine=engine)
        async with compose.listening(app, sock):
            yield base
    finally:
        await bus.stop()


async def entries(http: aiohttp.ClientSession, base: str, source: str) -> list[dict[str, Any]]:
    async with http.get(
        f"{base}/internal/tenants/acme/request-log?source={source}",
        headers={"Authorization": f"Bearer {INTERNAL}"},
    ) as response:
        return list((await response.json())["entries"])


async def test_reasons_reach_both_log_formats_and_the_request_log(
    roster: str, log_lines: tuple[io.StringIO, io.StringIO]
) -> None:
    text, lines = log_lines
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{roster}/admin/tenants",
            json={"slug": "acme"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        ) as created:
            assert created.status == 201
        async with http.get(
            f"{roster}/scim/v2/acme/Users",
            headers={"Authorization": "Bearer rst_aaaaaaaaaaaaaaaa_" + "b" * 43},
        ) as refused:
            assert refused.status == 401
            scim_reference = refused.headers["X-Roster-Reference"]
        async with http.get(f"{roster}/sso/acme/saml/login") as page:
            assert page.status == 404
            match = re.search(r"Reference: <code>(\w+)</code>", await page.text())
            assert match
            sso_reference = match.group(1)

        # The request log: the batch arrives within a few flushes (waiting on the entries).
        for _ in range(100):
            scim = await entries(http, roster, "scim")
            sso = await entries(http, roster, "sso")
            if any(e["reference"] == scim_reference for e in scim) and any(
                e["reference"] == sso_reference for e in sso
            ):
                break
            await asyncio.sleep(0.1)
        (scim_entry,) = [e for e in scim if e["reference"] == scim_reference]
        assert scim_entry["status"] == 401 and "not valid" in scim_entry["reason"]
        assert scim_entry["route"] == "GET /Users" and scim_entry["token_id"] is None
        (sso_entry,) = [e for e in sso if e["reference"] == sso_reference]
        assert sso_entry["status"] == 404
        assert "not connected a SAML identity provider" in sso_entry["reason"]

    # The same reasons on the log lines, in the text format and in JSON.
    for reference, reason in (
        (scim_reference, scim_entry["reason"]),
        (sso_reference, sso_entry["reason"]),
    ):
        (line,) = [x for x in text.getvalue().splitlines() if reference in x]
        assert f"reason={json.dumps(reason)}" in line, line
        (record,) = [json.loads(x) for x in lines.getvalue().splitlines() if reference in x]
        assert record["reason"] == reason
    # And no SCIM token secret on any line.
    assert "b" * 43 not in text.getvalue() + lines.getvalue()
