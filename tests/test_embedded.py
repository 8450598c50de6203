"""The embedded synthetic deployment: traffic rises and falls, the fleet follows within the budget."""

from __future__ import annotations

import pytest

from planner import Planner, TickRecord, VirtualClock
from planner.config import PlannerConfig
from planner.embedded import TrafficPattern
from planner_sdk import Role

pytestmark = pytest.mark.anyio


def test_patterns_have_the_documented_shape() -> None:
    sine = TrafficPattern("sine", base=6, amplitude=4, period=1200)
    assert sine.rate(300) == pytest.approx(10)
    assert sine.rate(900) == pytest.approx(2)
    step = TrafficPattern("step", base=2, amplitude=8, period=100)
    assert [step.rate(t) for t in (10, 30, 60, 80)] == [2, 10, 10, 2]
    assert TrafficPattern("constant", 5, 9, 10).expected_requests(0, 60) == pytest.approx(300)


async def test_the_fleet_follows_a_sine_wave_within_the_budget() -> None:
    clock = VirtualClock()
    records: list[TickRecord] = []
    config = PlannerConfig(embedded={"startup_delay_seconds": 30}, max_gpu_budget=12)
    async with Planner(config, clock=clock, discover=False, on_record=records.append) as planner, clock.autojump():
        await planner.run(max_ticks=240)  # 20 minutes of 5 s ticks: one period
    decode = [r.targets[Role.DECODE] for r in records if r.targets is not None]
    peak = max(decode[:120])  # the rate peaks at t=300 s
    trough = min(decode[150:])  # and bottoms out at t=900 s
    assert peak > trough
    assert all(r.targets is None or sum(r.targets.values()) <= 12 for r in records)
    assert planner.world is not None
    assert planner.world.traffic.total_requests > 0


async def test_the_same_seed_gives_the_same_decisions() -> None:
    async def run() -> list[object]:
        clock = VirtualClock()
        records: list[TickRecord] = []
        planner = Planner(PlannerConfig(), clock=clock, discover=False, on_record=records.append)
        async with planner, clock.autojump():
            await planner.run(max_ticks=60)
        return [r.targets for r in records]

    assert await run() == await run()
