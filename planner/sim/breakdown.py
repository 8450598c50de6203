"""Where a replay meets and misses its targets, interval by interval, beside the oracle's fleet."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner_plugins.traces import Trace
from planner_sdk import Role

from ..config import PlannerConfig
from ..daemon import Planner
from ..pipeline.record import TickRecord
from .engines import SimRequest
from .oracle import OracleResult
from .replay import ReplayResult, replay_config
from .score import targets_met
from .world import SimulatedDeployment

__all__ = ["IntervalRow", "Breakdown", "interval_breakdown"]

PROPOSER = "builtin_throughput_propose"


@dataclass
class IntervalRow:
    """One interval: its arrivals and how they fared, the fleet then, and what the planner decided."""

    index: int
    arrivals: int = 0
    met: int = 0  # met both targets
    ttft_missed: int = 0
    itl_missed: int = 0
    ready: tuple[int, int] = (0, 0)  # (prefill, decode) serving at the interval's last tick
    asked: tuple[int, int] = (0, 0)  # (prefill, decode) the deployment was asked for then
    oracle: tuple[int, int] | None = None
    forecast: tuple[float, ...] = ()  # the path the proposer was given at its last decision in the interval
    reason: str = ""  # the proposer's reason then

    @property
    def attainment(self) -> float | None:
        return self.met / self.arrivals if self.arrivals else None


@dataclass
class Breakdown:
    result: ReplayResult
    rows: list[IntervalRow] = field(default_factory=list)


def interval_breakdown(
    config: PlannerConfig, trace: Trace, oracle: OracleResult | None = None, *, name: str = "planner"
) -> Breakdown:
    """Replay `config` over `trace` and bucket every request by the interval it arrived in (the
    config's throughput interval), beside the fleet and the decision of that interval's last tick.
    The rows' attainment adds up to the replay's."""
    interval = config.throughput_adjustment_interval_seconds
    rows: dict[int, IntervalRow] = {}

    def row(index: int) -> IntervalRow:
        return rows.setdefault(index, IntervalRow(index))

    def on_complete(request: SimRequest) -> None:
        r = row(int(request.arrival // interval))
        ttft_ok, itl_ok = targets_met(request.ttft_s, request.itl_s, config.ttft_ms, config.itl_ms)
        r.arrivals += 1
        r.met += ttft_ok and itl_ok
        r.ttft_missed += not ttft_ok
        r.itl_missed += not itl_ok

    def watch(planner: Planner, world: SimulatedDeployment, record: TickRecord) -> None:
        cluster = world.cluster
        if on_complete not in cluster.on_complete:  # the first tick: nothing has completed yet
            cluster.on_complete.append(on_complete)
        r = row(int(cluster.now // interval))
        replicas = cluster.replicas()
        prefill, decode = replicas[Role.PREFILL], replicas[Role.DECODE]
        r.ready, r.asked = (prefill.ready, decode.ready), (prefill.expected, decode.expected)
        for call in record.calls:
            if call.plugin_id == PROPOSER and call.result is not None:
                r.reason = str(getattr(call.result, "reason", ""))
                predictions = record.predictions
                r.forecast = tuple(predictions.num_requests_ahead or ()) if predictions else ()

    result = replay_config(config, trace, name=name, watch=watch)
    if oracle is not None:
        for window in oracle.windows:
            row(window.index).oracle = (window.prefill, window.decode)
    return Breakdown(result, [rows[i] for i in sorted(rows)])
