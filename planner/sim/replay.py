"""Replay a trace through the real planner on the virtual clock, against the simulated deployment."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import anyio

from planner_plugins.traces import Trace
from planner_sdk import Role

from ..clock import VirtualClock
from ..config import PlannerConfig
from ..daemon import Planner
from ..observability.history import Snapshot, snapshot_of
from ..pipeline.record import TickRecord
from .oracle import OracleResult, oracle_sizing
from .score import LatencyScore
from .world import SimulatedDeployment, load_perf, simulation_settings

__all__ = [
    "RecordWatcher",
    "ReplayResult",
    "ReplicaPoint",
    "oracle_for",
    "replay_config",
    "replay_configs",
    "starting_from",
]

DECISION_CUTS = ("budget_capped", "change_capped", "min_endpoint")
"""Cuts that change what a decision asked for (a held scale-down only defers it)."""

Progress = Callable[[float], None]
"""Called with the fraction of the trace simulated so far."""
RecordWatcher = Callable[[Planner, SimulatedDeployment, TickRecord], None]
"""Called after each tick with the planner, the simulated deployment and the tick's record."""


@dataclass(frozen=True)
class ReplicaPoint:
    t: float
    prefill: int
    decode: int


@dataclass
class ReplayResult(LatencyScore):
    """One config's replay: its latency score plus cost, speed and what it did."""

    name: str
    simulated_seconds: float
    wall_seconds: float
    gpu_hours: float
    oracle_gpu_hours: float | None
    scale_actions: int
    scale_actions_by_role: dict[str, int] = field(default_factory=dict)
    cuts: dict[str, int] = field(default_factory=dict)  # targets safety changed, by reason
    cut_decisions: int = 0  # ticks whose targets were cut by the budget, the change cap or min endpoints
    timeline: list[ReplicaPoint] = field(default_factory=list, repr=False)
    snapshots: list[Snapshot] = field(default_factory=list, repr=False)  # every tick, for the report

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("timeline")
        data.pop("snapshots")
        return data


async def _run(
    config: PlannerConfig,
    trace: Trace,
    timeline: list[ReplicaPoint],
    snapshots: list[Snapshot],
    cuts: dict[str, int],
    progress: Progress | None,
    watch: RecordWatcher | None,
) -> tuple[SimulatedDeployment, int]:
    clock = VirtualClock(start=0.0)
    # A replay observes the simulated frontend directly, on its virtual clock: no Prometheus to ask.
    config = config.model_copy(update={"metric_pulling_prometheus_endpoint": None})
    world = SimulatedDeployment(config, clock, trace, load_perf(config))
    cut_decisions = 0

    def on_record(record: TickRecord) -> None:
        nonlocal cut_decisions
        for cut in record.cuts:
            cuts[cut.reason] = cuts.get(cut.reason, 0) + 1
        cut_decisions += any(cut.reason in DECISION_CUTS for cut in record.cuts)
        snapshots.append(snapshot_of(record, config, t=clock.monotonic()))  # seconds into the trace
        replicas = world.cluster.replicas()
        timeline.append(
            ReplicaPoint(world.cluster.now, replicas[Role.PREFILL].expected, replicas[Role.DECODE].expected)
        )
        if watch is not None:
            watch(planner, world, record)

    planner = Planner(config, clock=clock, connector=world.connector, plugins=world.plugins, on_record=on_record)
    async with planner, clock.autojump(), anyio.create_task_group() as group:

        async def stop_at_trace_end() -> None:
            end, step = trace.duration, max(trace.duration / 100.0, 1.0)
            while clock.monotonic() < end:
                await clock.sleep_until(min(end, clock.monotonic() + step))
                if progress is not None:
                    progress(min(1.0, clock.monotonic() / end) if end else 1.0)
            planner.stop()

        group.start_soon(stop_at_trace_end)
        await planner.run()
    return world, cut_decisions


def replay_config(
    config: PlannerConfig,
    trace: Trace,
    *,
    name: str = "default",
    progress: Progress | None = None,
    watch: RecordWatcher | None = None,
) -> ReplayResult:
    """Run the planner over the whole trace, then let the deployment drain and score it.

    GPU-hours count from the trace's start to its last arrival; the requests still in flight
    then finish on the fleet as it stands, and count in the latency scores. `watch` sees the
    planner, the simulated deployment and each tick's record as the replay runs.
    """
    started = time.perf_counter()
    timeline: list[ReplicaPoint] = []
    snapshots: list[Snapshot] = []
    cuts: dict[str, int] = {}
    world, cut_decisions = anyio.run(_run, config, trace, timeline, snapshots, cuts, progress, watch)
    cluster = world.cluster
    cluster.advance_to(trace.duration)
    gpu_hours = cluster.gpu_seconds(trace.duration) / 3600.0
    cluster.run_until_drained()
    score = cluster.score(config.ttft_ms, config.itl_ms)
    return ReplayResult(
        **asdict(score),
        name=name,
        simulated_seconds=trace.duration,
        wall_seconds=time.perf_counter() - started,
        gpu_hours=gpu_hours,
        oracle_gpu_hours=None,
        scale_actions=cluster.scale_actions,
        scale_actions_by_role={role.value: n for role, n in cluster.scale_actions_by_role.items()},
        cuts=cuts,
        cut_decisions=cut_decisions,
        timeline=timeline,
        snapshots=snapshots,
    )


def _named(progress: Callable[[str, float], None] | None, name: str) -> Progress | None:
    if progress is None:
        return None
    report = progress
    return lambda fraction: report(name, fraction)


def oracle_for(config: PlannerConfig, trace: Trace) -> OracleResult:
    """The oracle's sizing of `trace` with this config's SLA, interval, engines, minimums and GPU budget."""
    return oracle_sizing(
        trace,
        load_perf(config),
        simulation_settings(config),
        window_s=config.throughput_adjustment_interval_seconds,
        ttft_ms=config.ttft_ms,
        itl_ms=config.itl_ms,
        min_prefill=max(1, config.min_endpoint_for(Role.PREFILL)),
        min_decode=max(1, config.min_endpoint_for(Role.DECODE)),
        max_gpus=config.max_gpu_budget if config.max_gpu_budget >= 0 else None,
    )


def starting_from(config: PlannerConfig, fleet: tuple[int, int]) -> PlannerConfig:
    """The config starting from `fleet` (prefill, decode), unless it sets its own initial fleet."""
    if config.simulation.model_fields_set & {"initial_prefill", "initial_decode"}:
        return config
    simulation = config.simulation.model_copy(update={"initial_prefill": fleet[0], "initial_decode": fleet[1]})
    return config.model_copy(update={"simulation": simulation})


def replay_configs(
    trace: Trace,
    configs: list[tuple[str, PlannerConfig]],
    *,
    oracle: bool = True,
    cold_start: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[list[ReplayResult], OracleResult | None]:
    """Score several configs on one trace against the oracle (the first config's SLA, interval,
    engines and GPU budget). Unless `cold_start`, every config that does not set its own initial
    fleet starts from the oracle's first-window fleet, so no config pays for a cold start the
    others are spared."""
    sized: OracleResult | None = None
    if oracle and configs:
        if progress is not None:
            progress("oracle", 0.0)
        sized = oracle_for(configs[0][1], trace)
    results = []
    for name, config in configs:
        if sized is not None and not cold_start:
            config = starting_from(config, sized.first_fleet)
        result = replay_config(config, trace, name=name, progress=_named(progress, name))
        result.oracle_gpu_hours = None if sized is None else sized.gpu_hours
        results.append(result)
    return results, sized
