"""How the planner sees the simulated deployment: a connector and a frontend/worker observe plugin."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

from planner_sdk import (
    Decision,
    Observations,
    ObservePlugin,
    PluginSpec,
    ReplicaCount,
    Role,
    Stage,
    TickContext,
    TrafficObservation,
)

from ..clock import Clock
from .cluster import SimCluster

__all__ = ["SimConnector", "SimObserve", "FrontendWindow"]


class SimConnector:
    """The connector interface over the simulated cluster; simulated time follows the clock."""

    def __init__(self, cluster: SimCluster, clock: Clock) -> None:
        self.cluster = cluster
        self.clock = clock
        self._last_id = 0

    async def current_replicas(self) -> Mapping[Role, ReplicaCount]:
        self.cluster.advance_to(self.clock.monotonic())
        return self.cluster.replicas()

    async def apply(self, decision: Decision) -> None:
        if decision.decision_id <= self._last_id:
            return
        self._last_id = decision.decision_id
        self.cluster.advance_to(self.clock.monotonic())
        for role, target in decision.targets.items():
            self.cluster.set_replicas(role, target)

    async def wait_ready(self, deadline: float) -> bool:
        while True:
            self.cluster.advance_to(self.clock.monotonic())
            starting = [e.ready_at for r in (Role.PREFILL, Role.DECODE) for e in self.cluster.active(r)]
            pending = [t for t in starting if t > self.clock.monotonic()]
            if not pending:
                return True
            if self.clock.monotonic() >= deadline:
                return False
            await self.clock.sleep_until(min(deadline, min(pending)))

    async def aclose(self) -> None:
        return None


DISPERSION_SLICE_S = 10.0
SUB_SLICE_S = 2.0  # within a slice, arrivals are counted per fifth of it for their bunching


class FrontendWindow:
    """Windowed frontend metrics over the simulation's logs, in O(log n) per query. Windows end
    no later than the cluster's time (it logs arrivals as they happen) and reach back hours at most."""

    def __init__(self, cluster: SimCluster, dispersion: bool = True) -> None:
        self.cluster = cluster
        self.dispersion = dispersion  # False: a frontend read through Prometheus, which does not report it

    @staticmethod
    def _cv(total: float, squares: float, count: int) -> float | None:
        if count < 2 or total <= 0:
            return None
        mean = total / count
        return math.sqrt(max(0.0, squares / count - mean * mean)) / mean

    def traffic(self, start: float, end: float, recent_s: float | None = None) -> TrafficObservation:
        """The window's traffic; with `recent_s` shorter than the window, its last seconds counted apart."""
        arrivals = self.cluster.arrivals
        lo, hi = arrivals.span(start, end)
        recent = recent_s if recent_s is not None and 0 < recent_s < end - start else None
        count = hi - lo
        isl, osl = arrivals.total(arrivals.ISL, lo, hi), arrivals.total(arrivals.OSL, lo, hi)
        log = self.cluster.log
        ttft = log.ttft.mean_between(start, end)
        itl = log.itl.mean_between(start, end)
        slices = self._counts(start, end, DISPERSION_SLICE_S) if self.dispersion else None
        return TrafficObservation(
            window_seconds=end - start,
            num_requests=float(count),
            mean_isl=isl / count if count else None,
            mean_osl=osl / count if count else None,
            mean_ttft_ms=None if ttft is None else ttft * 1000.0,
            mean_itl_ms=None if itl is None else itl * 1000.0,
            isl_cv=self._cv(isl, arrivals.total(arrivals.ISL_SQ, lo, hi), count),
            osl_cv=self._cv(osl, arrivals.total(arrivals.OSL_SQ, lo, hi), count),
            arrival_dispersion=_dispersion(slices) if slices is not None else None,
            busiest_slice_requests=float(max(slices)) if slices else None,
            within_slice_dispersion=self._within_slices(start, end) if slices is not None else None,
            recent_window_seconds=recent,
            recent_num_requests=None if recent is None else float(hi - arrivals.span(end - recent, end)[0]),
        )

    def _counts(self, start: float, end: float, slice_s: float) -> list[int]:
        """Arrivals per `slice_s`, back from `end` for as many whole slices as the window holds."""
        times = self.cluster.arrivals.times
        return [
            bisect.bisect_right(times, end - i * slice_s) - bisect.bisect_right(times, end - (i + 1) * slice_s)
            for i in range(int((end - start) // slice_s))
        ]

    def _within_slices(self, start: float, end: float) -> float | None:
        """The median over the window's busy slices of the variance over mean of their arrivals per
        fifth of a slice: bunching at the time scale queues build over, which a change of level
        between slices does not inflate (None: no slice had arrivals)."""
        readings = []
        for i in range(int((end - start) // DISPERSION_SLICE_S)):
            counts = self._counts(end - (i + 1) * DISPERSION_SLICE_S, end - i * DISPERSION_SLICE_S, SUB_SLICE_S)
            mean = sum(counts) / len(counts)
            if mean > 0:
                readings.append(sum((c - mean) ** 2 for c in counts) / (len(counts) - 1) / mean)
        return sorted(readings)[len(readings) // 2] if readings else None


def _dispersion(counts: list[int]) -> float | None:
    """Variance over mean of a window's arrivals per slice, around its linear trend (None: too
    short or idle)."""
    slices = len(counts)
    if slices < 3:
        return None
    mean = sum(counts) / slices
    if mean <= 0:
        return None
    # Around the window's linear trend: a rate that rises within the window is not a burst.
    centre = (slices - 1) / 2
    spread = sum((i - centre) ** 2 for i in range(slices))
    slope = sum((i - centre) * (c - mean) for i, c in enumerate(counts)) / spread
    residual = sum((c - mean - slope * (i - centre)) ** 2 for i, c in enumerate(counts))
    return residual / (slices - 2) / mean


class SimObserve(ObservePlugin):
    """Observes the simulated frontend (traffic over the last `window_s`, its last `interval_s` counted
    apart) and every ready engine."""

    def __init__(
        self,
        cluster: SimCluster,
        clock: Clock,
        interval_s: float,
        window_s: float,
        *,
        traffic: bool = True,
        dispersion: bool = True,
    ) -> None:
        self.spec = PluginSpec(id="sim_observe", stage=Stage.OBSERVE, execution_interval_seconds=interval_s)
        self.cluster = cluster
        self.clock = clock
        self.window_s, self.interval_s = window_s, interval_s
        self.frontend = FrontendWindow(cluster, dispersion)
        self.reports_traffic = traffic

    async def observe(self, ctx: TickContext) -> Observations:
        now = self.clock.monotonic()
        self.cluster.advance_to(now)
        traffic = None
        # Traffic once a whole window has passed: a first decision on a few seconds of it would also set
        # the throughput loop's cadence off the window's grid for good.
        if self.reports_traffic and now >= self.window_s:
            traffic = self.frontend.traffic(now - self.window_s, now, self.interval_s)
        return Observations(traffic=traffic, workers=self.cluster.worker_loads())
