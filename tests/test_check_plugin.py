"""`check_plugin` tells a plugin author how long its calls take against what the planner allows them."""

from __future__ import annotations

import anyio
import pytest

from planner_sdk import PluginSpec, ProposePlugin, ProposeResult, Role, Stage, TickContext
from planner_sdk.testing import check_plugin

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


class Deliberate(ProposePlugin):
    """Takes `seconds` of wall time to answer."""

    def __init__(self, seconds: float, timeout: float) -> None:
        self.spec = PluginSpec(id="deliberate", stage=Stage.PROPOSE, execution_interval_seconds=0.2,
                               timeout_seconds=timeout)  # fmt: skip
        self.seconds = seconds

    async def propose(self, ctx: TickContext) -> ProposeResult:
        await anyio.sleep(self.seconds)
        return ProposeResult.at_least({Role.DECODE: 1})


async def test_the_report_gives_the_slowest_call_over_grpc_and_the_wall_time_budget() -> None:
    report = await check_plugin(Deliberate(0.05, timeout=2.0))
    assert report.ok, report.problems
    assert report.slowest_call_ms["grpc"] >= 50.0
    assert "timeout 2 s (wall time" in report.timing[0]
    assert any(
        "called every 0.02 wall s, each call cut at min(2 s, the tick's 30 s deadline / 10 = 3 s)" in line
        for line in report.timing
    )


async def test_a_plugin_that_waits_on_real_io_is_not_timed_out_in_process() -> None:
    report = await check_plugin(Deliberate(0.05, timeout=1.0), ticks=2, over_grpc=False)
    assert report.statuses["in-process"] == ["ok", "ok"], report.problems


async def test_a_long_interval_is_run_sped_up_over_grpc_with_the_lease_in_wall_time() -> None:
    plugin = Deliberate(0.0, timeout=1.0)
    plugin.spec = PluginSpec(id="hourly", stage=Stage.PROPOSE, execution_interval_seconds=3600.0)
    report = await check_plugin(plugin)
    assert report.ok, report.problems
    assert report.statuses["grpc"].count("ok") >= 3


def test_a_call_too_slow_for_the_simulators_speed_is_pointed_out() -> None:
    from planner_sdk.testing import _timing

    spec = PluginSpec(id="slow", stage=Stage.PROPOSE, execution_interval_seconds=60.0, timeout_seconds=10.0)
    assert any("would time out" in line for line in _timing(spec, slowest_ms=4000.0))  # > 30 s / speed 10
    assert not any("would time out" in line for line in _timing(spec, slowest_ms=200.0))
