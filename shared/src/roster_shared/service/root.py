"""A service on its own: health and metrics at the root, the service's application mounted.

Standalone (``roster serve``), each service's ``create_app`` mounts its application under its
prefix on a root that answers ``/healthz``, ``/readyz`` and ``/metrics``; ``roster dev`` mounts
the same applications side by side, so a path is the same either way.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from roster_shared.deadline import stamp_arrivals
from roster_shared.observability import Check, health_routes
from roster_shared.service.admission import shed_before_routing
from roster_shared.service.keys import EARLY_SHED, FATAL, METRICS, READY


def mount_with_health(
    api: web.Application, mount: str, registry: CollectorRegistry, ready: Check
) -> web.Application:
    """A root application serving health and ``registry``'s metrics, ``api`` under ``mount``."""
    app = web.Application()
    # Deadlines and shedding count from each request's arrival (roster_shared.deadline).
    stamp_arrivals(app)
    app.add_routes(health_routes(registry, ready))
    app.add_subapp(mount, api)
    if EARLY_SHED in api:
        shed_before_routing(app, mount, api[EARLY_SHED])
    return app


def standalone_root(api: web.Application, mount: str) -> web.Application:
    """:func:`mount_with_health` for an application built with the shared keys: its metrics
    registry (``METRICS``), its readiness check (``READY``) and its fatal failures (``FATAL``,
    shared with the root so that ``run_service`` sees them)."""
    root = mount_with_health(api, mount, api[METRICS], api[READY])
    root[FATAL] = api[FATAL]
    return root
