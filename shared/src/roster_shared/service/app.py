"""A service's aiohttp application, with its metrics registry and middlewares in place."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry

from roster_shared.observability import count_responses
from roster_shared.service.keys import CHECKS, FATAL, METRICS, Fatal


def service_app(
    errors: Middleware,
    *inner: Middleware,
    responses: tuple[str, str] | None = None,
    client_max_size: int = 1024**2,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """An application whose exceptions ``errors`` answers, with a registry under ``METRICS``.

    ``responses`` (a counter's name and documentation) counts responses by status, outside
    ``errors`` so that its answers count too; ``inner`` middlewares run inside ``errors``.
    ``registry``: one the inner middlewares already registered metrics in (default: a new one).
    """
    registry = registry if registry is not None else CollectorRegistry()
    counting = [] if responses is None else [count_responses(registry, *responses)]
    app = web.Application(middlewares=[*counting, errors, *inner], client_max_size=client_max_size)
    app[METRICS] = registry
    app[FATAL] = Fatal()
    app[CHECKS] = []
    return app
