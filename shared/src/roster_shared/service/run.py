"""The entry point of a service run on its own (``python -m <service>``, ``roster serve``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from aiohttp.log import access_logger

from roster_shared.observability import configure_logging
from roster_shared.service.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def run_service(create_app: Callable[[S], web.Application], settings_cls: type[S]) -> None:
    """Read ``settings_cls`` from ``ROSTER_*`` variables, configure logging, and serve
    ``create_app(settings)`` on the settings' host and port until SIGINT or SIGTERM.

    Invalid settings (a missing secret) raise pydantic's ``ValidationError`` and a service that
    cannot be built from them a ``ValueError``, both before anything listens or is written;
    ``roster serve`` turns them into one clear line.
    """
    settings = settings_cls()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=access_logger if settings.access_log else None,
    )
