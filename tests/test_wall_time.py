"""Under a clock sped up for a simulation, what concerns real processes stays on wall time: a plugin's
call timeout, its lease and its circuit breaker's cooldown. The clock runs a million times faster
than wall time here, so a planner-second timeout or lease would expire within a microsecond."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from helpers import Propose, config, set_targets
from planner import InMemoryConnector, Planner, ScaledClock, TickRecord
from planner_sdk import PluginSpec, ProposeResult, Role, Stage, TickContext

pytestmark = pytest.mark.anyio

SPEED = 1e6


async def test_a_plugin_call_gets_its_timeout_in_wall_seconds() -> None:
    async def answer_after_a_wall_moment(ctx: TickContext) -> ProposeResult:
        await anyio.sleep(0.02)  # 20 000 planner seconds; well within the plugin's 2 s
        return ProposeResult.at_least({Role.DECODE: 2})

    class Slow(Propose):
        async def propose(self, ctx: TickContext) -> ProposeResult:
            return await answer_after_a_wall_moment(ctx)

    clock = ScaledClock(SPEED)
    records: list[TickRecord] = []
    planner = Planner(
        config(scheduling={"tick_max_duration_seconds": 10 * SPEED}), clock=clock,
        connector=InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1}),
        plugins=[Slow("slow", set_targets(1, 1), interval=1.0, timeout_seconds=2.0)], discover=False,
        on_record=records.append,
    )  # fmt: skip
    async with planner:
        await planner.run(max_ticks=1)
    call = next(c for c in records[0].calls if c.plugin_id == "slow")
    assert call.status == "ok", call.error
    assert 20.0 <= call.latency_ms < 2000.0  # wall milliseconds


async def test_the_tick_deadline_stays_in_planner_seconds() -> None:
    async def never(ctx: TickContext) -> ProposeResult:
        await anyio.sleep(3600)
        raise AssertionError("unreachable")

    class Hung(Propose):
        async def propose(self, ctx: TickContext) -> ProposeResult:
            return await never(ctx)

    clock = ScaledClock(SPEED)
    records: list[TickRecord] = []
    planner = Planner(
        config(scheduling={"tick_max_duration_seconds": 0.05 * SPEED}), clock=clock,  # 50 ms of wall time
        connector=InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1}),
        plugins=[Hung("hung", set_targets(1, 1), interval=1.0, timeout_seconds=60.0)], discover=False,
        on_record=records.append,
    )  # fmt: skip
    async with planner:
        with anyio.fail_after(5):
            await planner.run(max_ticks=1)
    call = next(c for c in records[0].calls if c.plugin_id == "hung")
    assert call.status == "timeout"
    assert call.latency_ms < 1000.0


async def test_a_remote_plugins_lease_is_wall_seconds(tmp_path: Path) -> None:
    clock = ScaledClock(SPEED)
    registration = {"endpoints": [f"unix://{tmp_path}/registry.sock"], "allow_insecure": True,
                    "heartbeat_interval_seconds": 0.5}  # fmt: skip
    planner = Planner(
        config(plugin_registration=registration), clock=clock,
        connector=InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1}),
        plugins=[Propose("local", set_targets(1, 1))], discover=False,
    )  # fmt: skip
    async with planner:
        assert planner.remote is not None
        service = planner.remote.service
        declared = PluginSpec(id="remote_one", stage=Stage.PROPOSE, execution_interval_seconds=10.0)
        refused = await service.admit(declared, f"unix://{tmp_path}/plugin.sock", "someone", "1.0", "remote")
        assert refused is None
        assert await service.evict_expired() == []  # a 1 s lease: a microsecond is many planner seconds
        assert planner.registry.get("remote_one") is not None


async def test_an_open_circuit_stays_open_for_its_cooldown_in_wall_seconds() -> None:
    def fail(ctx: TickContext) -> ProposeResult:
        raise RuntimeError("down")

    clock = ScaledClock(SPEED)
    records: list[TickRecord] = []
    planner = Planner(
        config(plugin_registration={"circuit_breaker_failures": 1, "circuit_breaker_cooldown_seconds": 30.0}),
        clock=clock, connector=InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1}),
        plugins=[Propose("failing", fail, interval=1.0)], discover=False, on_record=records.append,
    )  # fmt: skip
    async with planner:
        await planner.run(max_ticks=3)  # three planner seconds: three microseconds of wall time
    statuses = [c.status for r in records for c in r.calls if c.plugin_id == "failing"]
    assert statuses == ["error", "circuit_open", "circuit_open"]
