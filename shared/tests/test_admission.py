"""The adaptive in-flight limit (``LatencyLimit``) against a modelled service: one whose
throughput plateaus at ``rate`` requests/s, so that past ``rate * base`` requests in flight
every extra one only waits (Little's law: latency = in flight / rate)."""

from __future__ import annotations

from roster_shared.service.admission import Admission, LatencyLimit


class Service:
    def __init__(self, rate: float, base: float) -> None:
        self.rate, self.base, self.now = rate, base, 0.0

    def latency(self, in_flight: int) -> float:
        return max(self.base, in_flight / self.rate)

    def drive(self, limit: LatencyLimit, windows: int, demand: int | None = None) -> list[float]:
        """Offer ``demand`` concurrent requests (all that the limit admits when None) for
        ``windows`` rounds (each a window or a latency, the longer); returns the latency seen
        in each."""
        seen = []
        for _ in range(windows):
            in_flight = int(limit.limit) if demand is None else min(demand, int(limit.limit))
            latency = self.latency(in_flight)
            seen.append(latency)
            # Answers of requests admitted at this concurrency come back over one latency.
            span = max(limit.window, latency)
            for _ in range(20):
                self.now += span / 20 + 1e-6
                limit.observe(latency, in_flight - 1)
        return seen


def test_the_limit_settles_where_latency_meets_the_target_above_the_plateau() -> None:
    service = Service(rate=40, base=1.0)  # plateau: 40 in flight, 40/s
    limit = LatencyLimit(ceiling=10_000, target=5.0, clock=lambda: service.now)
    seen = service.drive(limit, 300)
    # Above the plateau's concurrency (so throughput is the plateau's), queueing bounded by
    # the target (so nothing nears the deadline), and not running away to the ceiling.
    assert 40 < limit.limit <= 5.0 * 40 * 1.1
    assert max(seen[-100:]) <= 5.0 * 1.15


def test_the_limit_follows_the_machine_down_and_up_again() -> None:
    service = Service(rate=40, base=1.0)
    limit = LatencyLimit(ceiling=10_000, target=5.0, clock=lambda: service.now)
    service.drive(limit, 200)
    fast = limit.limit
    service.rate = 10  # the machine got four times busier
    seen = service.drive(limit, 200)
    assert limit.limit < fast / 2
    # AIMD saws around the target (one step of sqrt(limit) is ~0.7 s at 10/s here): well
    # under the 25 s deadline the target is a fifth of.
    assert max(seen[-100:]) <= 5.0 * 1.4
    service.rate = 40
    service.drive(limit, 200)
    assert limit.limit > fast * 0.8


def test_a_limit_that_is_not_used_does_not_grow() -> None:
    service = Service(rate=40, base=0.1)
    limit = LatencyLimit(ceiling=10_000, target=5.0, initial=32, clock=lambda: service.now)
    service.drive(limit, 100, demand=10)  # never more than 10 in flight: below half of 32
    assert limit.limit == 32


def test_the_ceiling_and_the_floor_hold_and_bound_the_admission() -> None:
    service = Service(rate=1, base=30.0)  # every answer far beyond the target
    limit = LatencyLimit(ceiling=100, target=5.0, floor=8, clock=lambda: service.now)
    service.drive(limit, 100)
    assert limit.limit == 8
    admission = Admission(total=100, per_tenant=100, adaptive=limit)
    assert [admission.enter("t") for _ in range(9)] == [None] * 8 + ["total"]
    quick = Service(rate=10_000, base=0.01)
    roomy = LatencyLimit(ceiling=100, target=5.0, clock=lambda: quick.now)
    quick.drive(roomy, 200)
    assert roomy.limit == 100
    # A fixed bound under the adaptive one still wins (the configured ceiling).
    assert Admission(total=3, per_tenant=2, adaptive=roomy).bound == 3
