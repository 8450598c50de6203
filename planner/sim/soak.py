"""A long run: a real trace looped for days with drift and noise, faults switched on every hour,
every tick checked against the invariants, and the process's memory read at each day's end."""

from __future__ import annotations

import math
import random
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from planner_plugins.traces import Trace, TraceRequest, scale_rate

from ..clock import VirtualClock
from ..config import PlannerConfig
from ..daemon import Planner
from ..pipeline.record import TickRecord
from .faults import FaultSwitch, FaultyConnector, FaultyObserve, FaultyPropose, fault_schedule
from .invariants import InvariantChecker, InvariantReport
from .world import SimulatedDeployment, embedded_trace

__all__ = ["SoakResult", "looped_trace", "rss_mb", "run_soak"]

DAY = 86400.0


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident memory now (Linux), else this process's peak."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def looped_trace(base: Trace, seconds: float, *, drift_per_day: float, noise: float, seed: int) -> Trace:
    """`base` back to back for `seconds`, each loop's rate scaled by a drift (a share per day) and
    lognormal noise, so no two loops are alike."""
    rng = random.Random(seed)
    requests: list[TraceRequest] = []
    loops = math.ceil(seconds / base.duration)
    for loop in range(loops):
        offset = loop * base.duration
        factor = max(0.05, (1.0 + drift_per_day * offset / DAY) * math.exp(rng.gauss(0.0, noise)))
        for request in scale_rate(base, factor, seed=seed + loop).requests:
            if offset + request.arrival < seconds:
                requests.append(TraceRequest(offset + request.arrival, request.isl, request.osl))
    return Trace(f"{base.name} looped {seconds / DAY:g} d", requests, 0)


@dataclass
class SoakResult:
    days: float
    requests: int
    invariants: InvariantReport
    faults: dict[str, int]
    crashed: int
    rss_mb_by_day: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def rss_growth(self) -> float:
        """From the end of day 1 to the end of the last day, as a share of day 1."""
        if len(self.rss_mb_by_day) < 2:
            return 0.0
        return self.rss_mb_by_day[-1] / self.rss_mb_by_day[0] - 1.0


def soak_config() -> PlannerConfig:
    return PlannerConfig(
        optimization_target="sla", ttft_ms=3000, itl_ms=25, max_gpu_budget=32,
        throughput_adjustment_interval_seconds=60, scheduling={"tick_max_duration_seconds": 10},
    )  # fmt: skip


def run_soak(days: float, *, rate_scale: float = 0.1, seed: int = 7, config: PlannerConfig | None = None) -> SoakResult:
    """Replay `days` of the embedded trace looped (at `rate_scale` of its load) with hourly faults."""
    config = config or soak_config()
    seconds = days * DAY
    base = scale_rate(embedded_trace(config), rate_scale, seed=seed)
    trace = looped_trace(base, seconds, drift_per_day=0.05, noise=0.2, seed=seed)
    switch = FaultSwitch()
    checker = InvariantChecker(config)
    result = SoakResult(days, len(trace.requests), checker.report, switch.counts, crashed=0)
    started = time.perf_counter()

    async def main() -> None:
        clock = VirtualClock(start=0.0)
        world = SimulatedDeployment(config, clock, trace)
        connector = FaultyConnector(world.connector, switch)
        plugins = [FaultyObserve(world.observer, switch), FaultyPropose(clock, switch, 60.0)]
        next_day = DAY

        def on_record(record: TickRecord) -> None:
            nonlocal next_day
            checker.add(record)
            if clock.monotonic() >= next_day:
                result.rss_mb_by_day.append(rss_mb())
                next_day += DAY

        async def switch_faults() -> None:
            for start, end, fault in fault_schedule(seconds, seed):
                await clock.sleep_until(start)
                switch.turn_on(fault)
                await clock.sleep_until(end)
                switch.turn_on(None)

        planner = Planner(config, clock=clock, connector=connector, plugins=plugins, on_record=on_record)
        async with planner, clock.autojump(), anyio.create_task_group() as group:
            group.start_soon(switch_faults)
            group.start_soon(planner.run)
            await clock.sleep_until(seconds)
            planner.stop()
            group.cancel_scope.cancel()
        checker.finish(connector.handed_out)

    try:
        anyio.run(main)
    except Exception:  # the daemon would have died
        result.crashed += 1
    result.wall_seconds = time.perf_counter() - started
    return result
