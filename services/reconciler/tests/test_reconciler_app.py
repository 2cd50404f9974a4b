"""The reconciler skeleton: health, readiness while its resources run, and settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient
from reconciler.app import create_app
from reconciler.settings import ReconcilerSettings
from roster_shared.bus.memory import MemoryBus

ClientFactory = Callable[..., Awaitable[TestClient]]


async def test_health_and_ready(aiohttp_client: ClientFactory) -> None:
    bus = MemoryBus()
    client = await aiohttp_client(create_app(ReconcilerSettings(), bus=bus))
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    assert await (await client.get("/readyz")).json() == {"status": "ready"}
    assert (await client.get("/metrics")).status == 200
    await client.close()
    await bus.stop()


def test_standalone_needs_kafka() -> None:
    with pytest.raises(ValueError, match="ROSTER_KAFKA_BOOTSTRAP"):
        create_app(ReconcilerSettings(kafka_bootstrap=None))


def test_settings_come_from_roster_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSTER_USER_STORE_URL", "http://store:9000")
    monkeypatch.setenv("ROSTER_PORT", "9100")
    settings = ReconcilerSettings()
    assert settings.user_store_url == "http://store:9000"
    assert settings.port == 9100


async def test_advice_endpoint(aiohttp_client: ClientFactory) -> None:
    bus = MemoryBus()
    client = await aiohttp_client(create_app(ReconcilerSettings(), bus=bus))
    response = await client.post(
        "/reconciler/advise",
        json={
            "requirements": {"idp": "okta", "scim_available": False, "directory_api": True},
            "policy": {"interval_minutes": 30},
        },
    )
    assert response.status == 200
    advice = await response.json()
    assert advice["mode"] == "jit"
    assert advice["worst_case_delay_seconds"] == 1800
    bad = await client.post("/reconciler/advise", json={"idp": ""})
    assert bad.status == 400
    assert (await bad.json())["error"] == "invalid"
    await client.close()
    await bus.stop()


def test_directory_urls_must_be_https_off_this_machine() -> None:
    from reconciler.credentials import Vault, new_key
    from reconciler.errors import Invalid
    from reconciler.routes import directory_config

    vault = Vault(new_key())
    assert directory_config(vault, "graph", None, "t").url == "https://graph.microsoft.com/v1.0"
    assert directory_config(vault, "okta", "http://127.0.0.1:9/okta", "t").kind == "okta"
    with pytest.raises(Invalid, match="use https://"):
        directory_config(vault, "okta", "http://example.okta.com", "t")
    with pytest.raises(Invalid, match="--url is required"):
        directory_config(vault, "scim", None, "t")
