"""The service skeleton (``roster_shared.service``): who starts what, what a failed start still
stops, what the error middleware answers, and the standalone root."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester
from roster_shared.service import (
    BUS,
    READY,
    REQUESTER,
    STATE,
    USER_STORE,
    Catch,
    CleanupContext,
    ServiceSettings,
    UserStoreClientSettings,
    attach_bus,
    attach_requester,
    attach_state,
    attach_user_store,
    bus_context,
    error_middleware,
    internal_error_json,
    requester_context,
    service_app,
    standalone_root,
    user_store_context,
)
from roster_shared.userstore_client import UserStoreClient

ClientFactory = Callable[..., Awaitable[TestClient]]


class Recorder:
    """A resource that records its starts and stops, and can fail to start."""

    def __init__(self, name: str, log: list[str], *, fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.fails:
            raise RuntimeError(f"{self.name} failed")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    close = stop


class RecordingBus(MemoryBus):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    async def start(self) -> None:
        self.log.append("start bus")
        await super().start()

    async def stop(self) -> None:
        self.log.append("stop bus")
        await super().stop()


class RecordingClient(UserStoreClient):
    def __init__(self, log: list[str]) -> None:
        super().__init__("http://user-store.invalid")
        self.log = log

    async def start(self) -> None:
        self.log.append("start client")
        await super().start()

    async def close(self) -> None:
        self.log.append("stop client")
        await super().close()


def test_settings_share_the_listening_address_but_name_no_database() -> None:
    settings = UserStoreClientSettings(internal_token="secret")
    assert settings.internal_token_value() == "secret"
    assert ServiceSettings().internal_token_value() is None
    assert "database_url" not in UserStoreClientSettings.model_fields


async def test_passed_in_resources_are_neither_started_nor_stopped() -> None:
    log: list[str] = []
    bus, client = RecordingBus(log), RecordingClient(log)
    await bus.start()
    log.clear()
    app = web.Application()
    assert attach_bus(app, ServiceSettings(), "test", bus) is bus
    assert attach_user_store(app, UserStoreClientSettings(), client) is client
    requester = attach_requester(app, bus, "replies")
    state = attach_state(app)
    assert (app[BUS], app[USER_STORE], app[REQUESTER]) == (bus, client, requester)
    runner = web.AppRunner(app)
    await runner.setup()
    assert state.running
    assert await app[READY]()
    await runner.cleanup()
    assert not state.running
    assert not await app[READY]()
    assert log == []  # neither the bus nor the client is the application's to start
    await bus.stop()


async def test_owned_resources_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    app = web.Application()
    client = attach_user_store(app, UserStoreClientSettings(), None)
    assert isinstance(client, UserStoreClient)
    first, second = Recorder("first", log), Recorder("second", log)
    for recorder in (first, second):
        app.cleanup_ctx.append(_context(recorder))
    attach_state(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await runner.cleanup()
    assert log == ["start first", "start second", "stop second", "stop first"]


async def test_a_failed_start_still_stops_what_started_before_it() -> None:
    log: list[str] = []

    class Failing(RecordingClient):
        async def start(self) -> None:
            self.log.append("start client")
            raise RuntimeError("client failed")

    bus = RecordingBus(log)
    app = web.Application()
    app.cleanup_ctx.append(bus_context(bus, owned=True))
    app.cleanup_ctx.append(user_store_context(Failing(log), owned=True))
    app.cleanup_ctx.append(requester_context(Requester(bus, topic="replies")))
    state = attach_state(app)
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match="client failed"):
        await runner.setup()
    await runner.cleanup()  # what web.run_app does after a failed start
    assert log == ["start bus", "start client", "stop client", "stop bus"]
    assert not state.running


def test_a_service_on_its_own_needs_kafka() -> None:
    with pytest.raises(ValueError, match="ROSTER_KAFKA_BOOTSTRAP is required to run the test"):
        attach_bus(web.Application(), ServiceSettings(kafka_bootstrap=None), "test", None)


class Refused(Exception):
    status = 409


class Unreachable(OSError):
    pass


def _app(**options: object) -> web.Application:
    log = logging.getLogger("roster.test.errors")
    middleware = error_middleware(
        Catch(Refused, lambda _r, e: web.json_response({"refused": str(e)}, status=e.status)),
        Catch((Unreachable, TimeoutError), lambda _r, e: web.json_response({}, status=503)),
        internal=internal_error_json,
        log=log,
        **options,  # type: ignore[arg-type]
    )
    app = web.Application(middlewares=[middleware])

    async def refused(_request: web.Request) -> web.Response:
        raise Refused("taken")

    async def unreachable(_request: web.Request) -> web.Response:
        raise Unreachable("down")

    async def bug(_request: web.Request) -> web.Response:
        raise KeyError("secret detail")

    async def moved(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    app.add_routes(
        [
            web.get("/refused", refused),
            web.get("/unreachable", unreachable),
            web.get("/bug", bug),
            web.get("/moved", moved),
        ]
    )
    return app


async def test_error_middleware_renders_the_services_exceptions_in_order(
    aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(_app())
    refused = await client.get("/refused")
    assert (refused.status, await refused.json()) == (409, {"refused": "taken"})
    assert (await client.get("/unreachable")).status == 503
    with caplog.at_level(logging.ERROR, "roster.test.errors"):
        bug = await client.get("/bug")
    body = await bug.json()
    assert bug.status == 500
    assert body["error"] == "internal"
    assert "secret" not in await bug.text()
    assert caplog.records[-1].reference == body["reference"]  # type: ignore[attr-defined]
    # aiohttp's own pass through unless the service renders them
    missing = await client.get("/nowhere")
    assert missing.status == 404
    assert missing.content_type == "text/plain"
    moved = await client.get("/moved", allow_redirects=False)
    assert moved.status == 302


async def test_error_middleware_renders_http_errors_when_asked(
    aiohttp_client: ClientFactory,
) -> None:
    client = await aiohttp_client(
        _app(http=lambda exc: web.json_response({"http": exc.status}, status=exc.status))
    )
    missing = await client.get("/nowhere")
    assert (missing.status, await missing.json()) == (404, {"http": 404})
    assert (await client.get("/moved", allow_redirects=False)).status == 302  # not an error


async def test_standalone_root_serves_health_and_mounts_the_service() -> None:
    api = service_app(internal_error_json_middleware(), responses=("roster_test", "Responses"))

    async def hello(_request: web.Request) -> web.Response:
        return web.json_response({"hello": True})

    api.add_routes([web.get("/hello", hello)])
    attach_state(api)
    root = standalone_root(api, "/svc")
    async with TestClient(TestServer(root)) as client:
        assert await (await client.get("/svc/hello")).json() == {"hello": True}
        assert await (await client.get("/readyz")).json() == {"status": "ready"}
        assert await (await client.get("/healthz")).json() == {"status": "ok"}
        metrics = await (await client.get("/metrics")).text()
        assert 'roster_test_total{status="200"} 1.0' in metrics
    assert not api[STATE].running


def internal_error_json_middleware() -> Middleware:
    return error_middleware(internal=internal_error_json, log=logging.getLogger(__name__))


def _context(recorder: Recorder) -> CleanupContext:
    async def context(_app: web.Application) -> AsyncIterator[None]:
        try:
            await recorder.start()
            yield
        finally:
            await recorder.stop()

    return context


def test_a_served_process_runs_on_uvloop_unless_told_otherwise() -> None:
    import asyncio

    import uvloop
    from roster_shared.service.run import new_event_loop
    from roster_shared.service.settings import ServiceSettings

    assert ServiceSettings().event_loop == "uvloop"
    chosen = new_event_loop("uvloop")
    plain = new_event_loop("asyncio")
    try:
        assert isinstance(chosen, uvloop.Loop)
        assert not isinstance(plain, uvloop.Loop)
        assert isinstance(plain, asyncio.BaseEventLoop)
    finally:
        chosen.close()
        plain.close()
