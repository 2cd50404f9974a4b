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

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge

from roster_shared.deadline import arrived

log = logging.getLogger(__name__)

SHED = web.RequestKey("roster_shed", str)
"""Set on a request refused by load shedding: the scope (``tenant``, ``total``, ``queued``), so
that what records answers can tell a refusal from an error without parsing its body."""


@dataclass
class LatencyLimit:
    """A concurrency limit that keeps queueing within a latency target (AIMD on latency, in
    the family of Netflix's concurrency-limits and TCP's delay-based congestion control).

    A fixed bound is right on one machine at one load only: on a slower or busier machine the
    same bound lets requests queue until they reach the deadline (work done for answers no
    one gets), on a faster one it refuses work the service could do. Past the throughput
    plateau more concurrency only adds waiting, so latency is the signal: every ``window``
    seconds of answers (or one mean latency, when longer), when their mean latency is above
    ``target`` the limit is cut by
    ``backoff`` (multiplicative decrease), else, if the limit was actually used (half of it
    in flight at some point: a quiet service learns nothing about a bigger one), it grows by
    sqrt(limit) (additive increase; by a quarter while latency is under half the target).
    The limit so settles where latency meets the target,
    which is above the plateau's concurrency whenever the target is above the plateau's
    latency: goodput stays at the plateau, and no admitted request waits near the deadline.
    ``floor`` <= limit <= ``ceiling``.

    (A gradient against the service's own slow-moving average latency, as Netflix's Gradient2
    does, was tried first: under sustained overload the average follows the queueing and the
    limit ran up to the ceiling in a simulation, so the target here is absolute.)
    """

    ceiling: int
    target: float
    floor: int = 8
    initial: int = 32
    backoff: float = 0.9
    window: float = 0.5  # seconds of answers per decision
    clock: Callable[[], float] = time.monotonic
    limit: float = 0.0
    _sum: float = 0.0
    _count: int = 0
    _peak: int = 0
    _since: float | None = None
    _last: float = 0.0  # the mean latency of the last decision

    def __post_init__(self) -> None:
        self.limit = float(max(self.floor, min(self.initial, self.ceiling)))

    def observe(self, seconds: float, in_flight: int) -> None:
        """One admitted request answered after ``seconds``, with ``in_flight`` still served."""
        now = self.clock()
        if self._since is None:
            self._since = now
        self._sum += seconds
        self._count += 1
        self._peak = max(self._peak, in_flight + 1)
        # One decision per round trip at least: answers arriving now were admitted one
        # latency ago, so deciding faster than that reacts to its own past (the bench saw a
        # 0.5 s window overshoot to p50 8 s when latency was ~6 s).
        if now - self._since >= max(self.window, self._last):
            self._last = self._sum / self._count
            self._decide(self._last)
            self._sum, self._count, self._peak, self._since = 0.0, 0, 0, now

    def _decide(self, mean: float) -> None:
        if mean > self.target:
            self.limit = max(float(self.floor), self.limit * self.backoff)
        elif self._peak >= self.limit / 2:
            # Far under the target, grow fast (a quarter per window: 32 -> 1000 in ~8 s; the
            # bench saw a sqrt-only ramp still climbing at the end of a 15 s overload); near
            # it, gently.
            step = self.limit / 4 if mean < self.target / 2 else math.sqrt(self.limit)
            self.limit = min(float(self.ceiling), self.limit + step)


@dataclass
class Admission:
    """Counts of requests in flight, overall and per tenant, against their bounds.

    ``total`` is the hard ceiling; with ``adaptive`` the bound overall is the adaptive limit
    under it (``bound``)."""

    total: int
    per_tenant: int
    in_flight: int = 0
    by_tenant: dict[str, int] = field(default_factory=dict)
    adaptive: LatencyLimit | None = None
    shed: Counter | None = None  # {prefix}_shed_total{scope}, once the middleware made it

    @property
    def bound(self) -> int:
        """How many requests may be in flight overall now."""
        if self.adaptive is None:
            return self.total
        return min(self.total, int(self.adaptive.limit))

    def enter(self, tenant: str | None) -> str | None:
        """Take a place; None when admitted, else why not (``"tenant"`` or ``"total"``)."""
        if tenant is not None and self.by_tenant.get(tenant, 0) >= self.per_tenant:
            return "tenant"
        if self.in_flight >= self.bound:
            return "total"
        self.in_flight += 1
        if tenant is not None:
            self.by_tenant[tenant] = self.by_tenant.get(tenant, 0) + 1
        return None

    def leave(self, tenant: str | None, seconds: float | None = None) -> None:
        """Give the place back; ``seconds`` (how long the answer took) teaches the adaptive
        limit, when there is one."""
        self.in_flight -= 1
        if self.adaptive is not None and seconds is not None:
            self.adaptive.observe(seconds, self.in_flight)
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
    max_queued: float | None = None,
    tenant_of: Callable[[web.Request], str | None] = lambda r: r.match_info.get("tenant"),
) -> Middleware:
    """Admit a request only within ``admission``'s bounds; otherwise raise
    ``refuse(scope, retry_after)`` (``scope`` is ``"tenant"`` → 429, ``"total"`` → 503, or
    ``"queued"`` → 503: it waited more than ``max_queued`` seconds between its arrival,
    :func:`roster_shared.deadline.arrived`, and this middleware — the event loop itself is
    behind, and what is admitted now answers late whatever the bound).

    Counts ``{prefix}_shed_total{scope}`` and exposes ``{prefix}_in_flight``.
    """
    shed = Counter(
        f"{prefix}_shed", "Requests refused by load shedding", ["scope"], registry=registry
    )
    admission.shed = shed
    in_flight = Gauge(f"{prefix}_in_flight", "Requests being served now", registry=registry)
    in_flight.set_function(lambda: admission.in_flight)
    bound = Gauge(
        f"{prefix}_in_flight_limit", "The bound on requests in flight now", registry=registry
    )
    bound.set_function(lambda: admission.bound)

    @web.middleware
    async def admit(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = arrived(request)
        tenant = tenant_of(request)
        if max_queued is not None and time.monotonic() - started > max_queued:
            refused: str | None = "queued"
        else:
            refused = admission.enter(tenant)
        if refused is not None:
            shed.labels(refused).inc()
            request[SHED] = refused
            raise refuse(refused, retry_after)
        try:
            return await handler(request)
        finally:
            # Every answer teaches the limit how long work takes at this concurrency, from
            # the request's arrival (time queued before the handler is latency too), a
            # refusal or a 503 at the deadline too (that one most of all: it queued).
            admission.leave(tenant, time.monotonic() - started)

    return admit


class EarlyShed:
    """The cheapest refusal: before routing and before any middleware, for the requests under
    ``mount`` when the service is full (``total``) or the request queued longer than
    ``max_queued`` (``queued``) — the bulk of the refusals under overload, when every
    refusal's CPU is taken from the admitted requests' (bench/overload.py measured a refusal
    through the middlewares at a quarter of an admitted request's cost in scim-api). The
    answer is ``refusal``'s, rendered once (the service's protocol: a SCIM error body).
    A request whose tenant (the path segment ``tenant_at`` under the mount) has its share in
    flight already goes on to the middleware, which refuses it 429: that tenant, not the
    service, is told to back off. Counted in ``{prefix}_shed_total`` and a ``load shed`` log
    line per ``every`` seconds, not one each."""

    def __init__(
        self,
        admission: Admission,
        refusal: web.Response,
        *,
        max_queued: float | None,
        tenant_at: int | None = None,
        every: float = 10.0,
    ) -> None:
        self.admission = admission
        self.tenant_at = tenant_at
        self.status = refusal.status
        self.body = refusal.body
        self.headers = dict(refusal.headers)
        self.max_queued = max_queued
        self.every = every
        self.refused = 0
        self.since = time.monotonic()

    def answer(self, request: web.BaseRequest, below: str) -> web.Response | None:
        """The refusal for ``request`` (``below``: its path under the mount), or None when it
        may go on."""
        now = time.monotonic()
        if self.max_queued is not None and now - arrived(request) > self.max_queued:
            scope = "queued"
        elif self.admission.in_flight >= self.admission.bound and not self._tenant_full(below):
            scope = "total"
        else:
            return None
        request[SHED] = scope
        if self.admission.shed is not None:
            self.admission.shed.labels(scope).inc()
        self.refused += 1
        if now - self.since >= self.every:
            log.warning(
                "load shed", extra={"refused": self.refused, "seconds": round(now - self.since, 1)}
            )
            self.refused, self.since = 0, now
        return web.Response(status=self.status, body=self.body, headers=self.headers)

    def _tenant_full(self, below: str) -> bool:
        if self.tenant_at is None:
            return False
        parts = below.split("/", self.tenant_at + 1)
        tenant = parts[self.tenant_at] if len(parts) > self.tenant_at else ""
        return self.admission.by_tenant.get(tenant, 0) >= self.admission.per_tenant


def shed_before_routing(root: web.Application, mount: str, gate: EarlyShed) -> None:
    """Make ``root`` (the application the server runs) answer ``gate``'s refusals for the
    paths under ``mount`` before it routes them."""
    # aiohttp's server calls the running application's handler, taken when the server
    # starts, with no public hook before routing: it is wrapped on this instance.
    handle = root._handle
    prefix = mount.rstrip("/") + "/"

    async def gated(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(prefix):
            refused = gate.answer(request, path[len(prefix) :])
            if refused is not None:
                return refused
        return await handle(request)

    # object.__setattr__: aiohttp in debug mode warns on any attribute set on an application.
    object.__setattr__(root, "_handle", gated)
