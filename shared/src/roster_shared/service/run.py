"""The entry point of a service run on its own (``python -m <service>``, ``roster serve``)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from aiohttp.log import access_logger

from roster_shared.observability import configure_logging
from roster_shared.service.keys import FATAL
from roster_shared.service.settings import ServiceSettings

EXIT_FATAL = 70
"""The exit status after a fatal failure (EX_SOFTWARE): the orchestrator restarts the process."""

S = TypeVar("S", bound=ServiceSettings)

log = logging.getLogger("roster_shared.service")


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind`` (``ROSTER_EVENT_LOOP``): ``uvloop`` where it is installed,
    else (or for ``asyncio``) Python's own.

    Why uvloop: each request is a few socket reads and writes and a handful of callbacks, and
    with asyncio's loop in Python that overhead was most of a cheap answer's cost — a refusal
    by load shedding cost scim-api 0.18 ms under spread arrivals (bench/refusal_cost.py); see
    docs/design.md for the same-run figures with each loop."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:  # Windows: no uvloop wheel; the design says asyncio's loop then
            log.warning("uvloop is not installed; serving on asyncio's event loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_service(create_app: Callable[[S], web.Application], settings_cls: type[S]) -> None:
    """Read ``settings_cls`` from ``ROSTER_*`` variables, configure logging, and serve
    ``create_app(settings)`` on the settings' host and port until SIGINT or SIGTERM.

    A fatal failure (``FATAL``: a consumer that stopped on its own) stops the server and
    exits with status 70, so that an orchestrator restarts the process.

    Invalid settings (a missing secret) raise pydantic's ``ValidationError`` and a service that
    cannot be built from them a ``ValueError``, both before anything listens or is written;
    ``roster serve`` turns them into one clear line.
    """
    settings = settings_cls()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    app = create_app(settings)
    where = f"{settings.host}:{settings.port}"

    # With the access log off by default, these two lines say in the log that the service ran.
    async def started(_app: web.Application) -> None:
        log.info("serving on %s (access log %s)", where, "on" if settings.access_log else "off")

    async def stopping(_app: web.Application) -> None:
        log.info("stopping (was serving on %s)", where)

    app.on_startup.append(started)
    app.on_shutdown.append(stopping)
    fatal = app.get(FATAL)
    if fatal is not None:
        # A fatal failure (a consumer loop that ended) stops the server as SIGTERM would.
        fatal.handlers.append(lambda _reason: os.kill(os.getpid(), signal.SIGTERM))
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=access_logger if settings.access_log else None,
        loop=new_event_loop(settings.event_loop),
    )
    if fatal is not None and fatal.reason is not None:
        raise SystemExit(EXIT_FATAL)
