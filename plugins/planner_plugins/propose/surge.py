"""builtin_surge_propose: between throughput decisions, scale up at once for arrivals they did not plan for."""

from __future__ import annotations

import math

from planner_sdk import ContextField, PluginSpec, ProposePlugin, ProposeResult, Role, Stage, TickContext

from .backlog import backlogged_engines
from .throughput import ThroughputPropose

__all__ = ["SURGE_Z", "SURE_Z", "SurgePropose", "surge_z"]

SURGE_Z = 3.0  # a recent count this many deviations above the plan's is a surge if the next one is too
SURE_Z = 6.0  # this many, and one count is enough
LOWER_Z = 2.0  # a surge is sized for its count less this many deviations: the highest of noisy counts overstates
OVERLOAD_SLACK = 3.0  # and only if the fleet asked for would miss targets this many times looser: overloaded


def surge_z(count: float, expected: float, dispersion: float) -> float:
    """How many deviations `count` lies above `expected`: Poisson's, widened by the arrivals' dispersion."""
    return (count - expected) / math.sqrt(max(dispersion, 1.0) * max(expected, 1.0))


class SurgePropose(ProposePlugin):
    """The throughput loop decides once an interval, for the load it forecast. A step up seen only at
    the next decision serves an interval later than it could: every second of that is a second more of
    the new load queued behind engines that were never asked for.

    Each observe interval this plugin holds the arrivals of its last seconds against the count the
    standing decision was sized for. Far above it (`SURE_Z` deviations, widened by the dispersion the
    arrivals read), or well above it twice in a row (`SURGE_Z`), and only while the engines miss the
    targets or the fleet asked for is overloaded, it asks at once for at least the fleet the rate needs
    (the counts' lower bound), with the backlog the serving engines build until new ones start. It never
    scales down and is silent when the throughput loop decides: that decision sees the same arrivals."""

    def __init__(self, throughput: ThroughputPropose, interval_s: float) -> None:
        self.spec = PluginSpec(
            id="builtin_surge_propose",
            stage=Stage.PROPOSE,
            execution_interval_seconds=interval_s,
            needs=frozenset({ContextField.TRAFFIC, ContextField.REPLICAS, ContextField.WORKERS}),
            requires=frozenset({ContextField.TRAFFIC}),
        )
        self.throughput, self.interval_s = throughput, interval_s
        self._above: tuple[float, float] | None = None  # (requests, seconds) well above the plan, the one before not
        self._watched: tuple[float, float] | None = None  # (seen at, the rate half way up) of the last surge
        self.short = False  # the last surge was over before engines asked for it could have served

    def _watch(self, now: float, rate: float) -> None:
        """Whether the last surge fell back half way within a start-up: then it was a burst, and the
        engines chased for it only cost GPUs. Until a surge outlasts a start-up, surges are not chased."""
        if self._watched is None:
            return
        seen_at, half_way = self._watched
        if rate < half_way and now - seen_at <= self.throughput.startup.seconds:
            self.short, self._watched = True, None
        elif now - seen_at > self.throughput.startup.seconds:
            self.short, self._watched = False, None

    def _missing_targets(self, ctx: TickContext) -> bool:
        """Whether the engines miss the targets now: a prefill queue longer than the TTFT target to work
        off, or decode steps slower on average than the ITL target."""
        settings, workers = self.throughput.settings, ctx.observations.workers or ()
        if backlogged_engines(self.throughput.perf, workers, settings.ttft_ms):
            return True
        steps = [w.recent_itl_ms for w in workers if w.role is Role.DECODE and w.recent_itl_ms is not None]
        return bool(steps) and sum(steps) / len(steps) > settings.itl_ms

    def _recent_rate(self, ctx: TickContext) -> tuple[float, float] | None:
        """(requests, seconds) of the traffic's recent window."""
        traffic = ctx.observations.traffic
        if traffic is None or traffic.recent_num_requests is None or not traffic.recent_window_seconds:
            return None
        return traffic.recent_num_requests, traffic.recent_window_seconds

    def propose(self, ctx: TickContext) -> ProposeResult:
        planned, recent = self.throughput.planned, self._recent_rate(ctx)
        interval = self.throughput.settings.interval_s
        if recent is not None:
            self._watch(ctx.now, recent[0] / recent[1])
        if planned is None or ctx.now >= planned[0] + interval - self.interval_s / 2:
            self._above = None
            return ProposeResult.accept("the throughput loop decides now" if planned else "no decision to hold to")
        if recent is None:
            self._above = None
            return ProposeResult.accept("no recent arrivals observed")
        count, seconds = recent
        expected = planned[1] * seconds / interval
        dispersion = self.throughput.burstiness
        z = surge_z(count, expected, dispersion)
        rate, above = count / seconds, self._above
        if z < SURGE_Z or (z < SURE_Z and above is None):
            self._above = (count, seconds) if z >= SURGE_Z else None
            return ProposeResult.accept(f"{rate:.2f} req/s over {seconds:g} s against {expected / seconds:.2f} planned")
        self._above = None
        # The counts above the plan, pooled, at their lower bound.
        seen, span = (count, seconds) if above is None else (count + above[0], seconds + above[1])
        surge = max(expected / seconds, (seen - LOWER_Z * math.sqrt(dispersion * seen)) / span)
        if not (self._missing_targets(ctx) or self.throughput.short_of(ctx, surge * interval, OVERLOAD_SLACK)):
            return ProposeResult.accept(f"{rate:.2f} req/s over {seconds:g} s: the fleet asked for serves it")
        if self._watched is None:
            self._watched = (ctx.now, (surge + expected / seconds) / 2)
        if self.short:
            return ProposeResult.accept(
                f"surge of {rate:.2f} req/s not chased: the last one was over before engines could have served it"
            )
        targets = self.throughput.size_for_surge(ctx, surge * interval)
        reason = (
            f"surge: {rate:.2f} req/s over the last {seconds:g} s against {expected / seconds:.2f} planned "
            f"({z:.1f} deviations); sized for {surge:.2f} req/s"
        )
        return ProposeResult.at_least(targets, reason)
