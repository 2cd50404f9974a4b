"""The application of a service that faces clients (scim-api, sso-login): the skeleton's
:func:`~roster_shared.service.app.service_app` with load shedding and one request deadline inside
the service's own error middleware, so that their refusals come out in its protocol's format."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry

from roster_shared.deadline import deadline_middleware
from roster_shared.service.admission import (
    Admission,
    EarlyShed,
    LatencyLimit,
    admission_middleware,
)
from roster_shared.service.app import service_app
from roster_shared.service.keys import ADMISSION, EARLY_SHED
from roster_shared.service.settings import UserStoreClientSettings


def front_door_app(
    errors: Middleware,
    settings: UserStoreClientSettings,
    *,
    metrics_prefix: str,
    responses: tuple[str, str],
    overloaded: Callable[[str, int], Exception],
    expired: Callable[[], Exception],
    refusal: Callable[[int], web.Response] | None = None,
    tenant_at: int | None = None,
) -> web.Application:
    """An application whose requests are first admitted within the in-flight bounds (the
    overall one adaptive unless ``settings.adaptive_in_flight`` is off;
    ``overloaded(scope, retry_after)`` beyond them: 429 for a tenant, 503 in all), then given
    ``settings.request_deadline`` in all (``expired()`` past it); ``errors`` answers both.

    ``refusal(retry_after)``: the service's 503 when it is full, rendered once, for refusals
    before routing (:class:`~roster_shared.service.admission.EarlyShed`, installed by whoever
    mounts the application: :func:`~roster_shared.service.root.mount_with_health`);
    ``tenant_at``: which segment of a path under the mount is the tenant."""
    # Queueing may use a fifth of the deadline: far from it, and above the plateau's latency.
    target = settings.request_deadline / 5
    adaptive = LatencyLimit(settings.max_in_flight, target) if settings.adaptive_in_flight else None
    admission = Admission(
        settings.max_in_flight, settings.max_in_flight_per_tenant, adaptive=adaptive
    )
    registry = CollectorRegistry()
    app = service_app(
        errors,
        # First shed (at once, before any work), then the request's one deadline.
        admission_middleware(
            admission,
            overloaded,
            registry=registry,
            prefix=metrics_prefix,
            retry_after=settings.shed_retry_after,
            # Waiting that long before any work means the loop itself is behind: shed.
            max_queued=target,
        ),
        deadline_middleware(settings.request_deadline, expired),
        responses=responses,
        registry=registry,
    )
    app[ADMISSION] = admission
    if refusal is not None:
        app[EARLY_SHED] = EarlyShed(
            admission, refusal(settings.shed_retry_after), max_queued=target, tenant_at=tenant_at
        )
    return app
