"""Load shedding: a bound on the requests in flight, per tenant and overall.

Without one, a service under more load than it can serve takes every request and answers all of
them late (the fault run saw latency grow with load until the 20 s reply timeout answered 503),
and no client is told to slow down. With one, a request beyond the bound is refused at once —
before any work is done for it — with ``Retry-After``:

* a tenant with ``per_tenant`` requests in flight already gets **429 Too Many Requests**: that
  tenant is sending more than its share (an IdP's bulk push), and only it is told to back off;
* with ``total`` requests in flight already, anyone gets **503 Service Unavailable**: the
  service is full.

Each service renders the refusal in its own protocol (a SCIM error body, a sign-in page) through
its error middleware, which this one must run inside. A request's place is given back when its
answer is ready, whatever the answer. Health, readiness and metrics are served by the root
application and are never shed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class Admission:
    """Counts of requests in flight, overall and per tenant, against their bounds."""

    total: int
    per_tenant: int
    in_flight: int = 0
    by_tenant: dict[str, int] = field(default_factory=dict)

    def enter(self, tenant: str | None) -> str | None:
        """Take a place; None when admitted, else why not (``"tenant"`` or ``"total"``)."""
        if tenant is not None and self.by_tenant.get(tenant, 0) >= self.per_tenant:
            return "tenant"
        if self.in_flight >= self.total:
            return "total"
        self.in_flight += 1
        if tenant is not None:
            self.by_tenant[tenant] = self.by_tenant.get(tenant, 0) + 1
        return None

    def leave(self, tenant: str | None) -> None:
        """Give the place back."""
        self.in_flight -= 1
        if tenant is not None:
            left = self.by_tenant[tenant] - 1
            if left:
                self.by_tenant[tenant] = left
            else:
                del self.by_tenant[tenant]


def admission_middleware(
    admission: Admission,
    refuse: Callable[[str, int], Exception],
    *,
    registry: CollectorRegistry,
    prefix: str,
    retry_after: int = 1,
    tenant_of: Callable[[web.Request], str | None] = lambda r: r.match_info.get("tenant"),
) -> Middleware:
    """Admit a request only within ``admission``'s bounds; otherwise raise
    ``refuse(scope, retry_after)`` (``scope`` is ``"tenant"`` → 429, or ``"total"`` → 503).

    Counts ``{prefix}_shed_total{scope}`` and exposes ``{prefix}_in_flight``.
    """
    shed = Counter(
        f"{prefix}_shed", "Requests refused by load shedding", ["scope"], registry=registry
    )
    in_flight = Gauge(f"{prefix}_in_flight", "Requests being served now", registry=registry)
    in_flight.set_function(lambda: admission.in_flight)

    @web.middleware
    async def admit(request: web.Request, handler: Handler) -> web.StreamResponse:
        tenant = tenant_of(request)
        refused = admission.enter(tenant)
        if refused is not None:
            shed.labels(refused).inc()
            raise refuse(refused, retry_after)
        try:
            return await handler(request)
        finally:
            admission.leave(tenant)

    return admit
