"""A contract-test kit for plugin authors: drive your plugin through real ticks of the planner.

    from planner_sdk.testing import check_plugin

    async def test_my_plugin_keeps_the_contract():
        report = await check_plugin(MyPlugin())
        assert report.ok, report.problems

It runs the plugin through real ticks of the planner's pipeline, first in-process and then over
gRPC (a registry on a temporary Unix socket, the plugin served by `serve()`), and reports every
call that failed, timed out or broke the contract, and how long the slowest call took over gRPC
against what the planner allows it (`report.timing`): a call's timeout is wall seconds, while the
plugin's interval and the tick's deadline are planner seconds, which a simulation runs faster.
The ticks run in real time, sped up so that the plugin's due ticks come a fifth of a second apart.
It needs the `planner` package installed (`pip install planner`), which it imports only when called.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import Any

import anyio

from ._context import ContextField
from ._plugin import ObservePlugin, Plugin, PluginSpec
from ._serve import serve
from ._types import Observations, Role, Stage, TrafficObservation, WorkerLoad

__all__ = ["ContractReport", "check_plugin", "sample_observations"]


@dataclass
class ContractReport:
    """What the plugin did in each mode: the statuses of its calls and the problems found."""

    statuses: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    slowest_call_ms: dict[str, float] = field(default_factory=dict)  # per mode, wall milliseconds
    timing: list[str] = field(default_factory=list)  # what the planner allows the calls, in wall time

    @property
    def ok(self) -> bool:
        return not self.problems


def sample_observations() -> Observations:
    """Plausible traffic and per-worker load, so plugins that need them have something to read."""
    return Observations(
        traffic=TrafficObservation(60.0, 600.0, 3000.0, 150.0, 400.0, 20.0),
        workers=(
            WorkerLoad(
                "prefill-0", Role.PREFILL, queued_prefill_requests=2, queued_prefill_tokens=6000, running_requests=1
            ),
            WorkerLoad("decode-0", Role.DECODE, scheduled_kv_tokens=300_000, queued_kv_tokens=0, max_kv_tokens=900_000,
                       running_requests=90, forward_pass_ms=18.0, recent_itl_ms=18.0),
        ),
    )  # fmt: skip


class _SampleObserve(ObservePlugin):
    def __init__(self, interval: float) -> None:
        self.spec = PluginSpec(id="contract_observe", stage=Stage.OBSERVE, execution_interval_seconds=interval)

    async def observe(self, ctx: Any) -> Observations:
        return sample_observations()


def _answered(records: list[Any], plugin_id: str) -> int:
    return sum(1 for r in records for c in r.calls if c.plugin_id == plugin_id and c.status != "not_due")


_DUE_TICK_WALL_S = 0.2


def _slowest_ms(plugin_id: str, records: list[Any]) -> float | None:
    latencies = [c.latency_ms for r in records for c in r.calls if c.plugin_id == plugin_id and c.status == "ok"]
    return max(latencies, default=None)


def _timing(spec: PluginSpec, slowest_ms: float | None) -> list[str]:
    """The plugin's call budget and cadence in wall time, on a real deployment and at `make run`'s speed."""
    from planner import PlannerConfig

    defaults = PlannerConfig()
    timeout = spec.timeout_seconds or defaults.plugin_registration.transport.request_timeout_seconds
    tick = defaults.scheduling.tick_max_duration_seconds
    speed = defaults.simulation.speed
    interval = spec.execution_interval_seconds
    lines = [
        f"timeout {timeout:g} s (wall time, whatever the planner's clock speed); "
        f"slowest call over gRPC: {'-' if slowest_ms is None else f'{slowest_ms:.1f} ms'}",
        f"on a real deployment: called every {interval:g} s, each call cut at min({timeout:g} s, the tick's "
        f"{tick:g} s deadline)",
        f"on the simulator at speed {speed:g} (`make run`): called every {interval / speed:g} wall s, each call "
        f"cut at min({timeout:g} s, the tick's {tick:g} s deadline / {speed:g} = {tick / speed:g} s)",
    ]
    if slowest_ms is not None and slowest_ms / 1000.0 > min(timeout, tick / speed):
        lines.append(f"at speed {speed:g} the slowest call would time out: run the simulator slower (--speed)")
    return lines


def _problems(mode: str, plugin_id: str, records: list[Any]) -> tuple[list[str], list[str]]:
    statuses, problems = [], []
    for record in records:
        for call in record.calls:
            if call.plugin_id != plugin_id:
                continue
            statuses.append(call.status)
            if call.status in ("error", "timeout"):
                problems.append(f"{mode}, tick {record.tick_id}: {call.status}: {call.error}")
    if "ok" not in statuses:
        problems.append(f"{mode}: the plugin never answered successfully (statuses: {sorted(set(statuses))})")
    return statuses, problems


async def check_plugin(plugin: Plugin, *, ticks: int = 3, over_grpc: bool = True) -> ContractReport:
    """Run `plugin` for `ticks` due ticks in-process, then over gRPC; report what went wrong."""
    from planner import InMemoryConnector, Planner, PlannerConfig, ScaledClock

    spec = plugin.spec
    interval = spec.execution_interval_seconds
    report = ContractReport()
    roles = {Role.PREFILL: 2, Role.DECODE: 2}
    # Real time, sped up so that due ticks come a fifth of a wall second apart: the plugin's own
    # waits (a query, a socket) take the wall time they take, and its timeout is wall seconds.
    speed = max(1.0, interval / _DUE_TICK_WALL_S)
    tick_deadline = PlannerConfig().scheduling.tick_max_duration_seconds * speed  # as many wall seconds as ever
    config: dict[str, Any] = {"environment": "virtual", "max_gpu_budget": -1,
                              "scheduling": {"tick_max_duration_seconds": tick_deadline}}  # fmt: skip
    helpers: list[Plugin] = [_SampleObserve(interval)]
    if ContextField.PREDICTIONS in spec.requires:
        from ._plugin import PredictPlugin
        from ._types import Predictions, PredictResult

        class _SamplePredict(PredictPlugin):
            def __init__(self) -> None:
                self.spec = PluginSpec(id="contract_predict", stage=Stage.PREDICT, execution_interval_seconds=interval)

            async def predict(self, ctx: Any) -> PredictResult:
                return PredictResult(Predictions(600.0, 3000.0, 150.0))

        helpers.append(_SamplePredict())

    clock = ScaledClock(speed)
    records: list[Any] = []
    planner = Planner(
        PlannerConfig(**config), clock=clock, connector=InMemoryConnector(clock, roles), plugins=[plugin, *helpers],
        discover=False, on_record=records.append,
    )  # fmt: skip
    async with planner:
        await planner.run(max_ticks=ticks)
    report.statuses["in-process"], problems = _problems("in-process", spec.id, records)
    report.problems += problems
    if not over_grpc:
        return report

    with tempfile.TemporaryDirectory(prefix="planner-contract-") as directory:
        address = f"unix://{directory}/registry.sock"
        registration = {"endpoints": [address], "allow_insecure": True, "heartbeat_interval_seconds": 1.0}
        clock = ScaledClock(speed)
        records = []
        remote = Planner(
            PlannerConfig(**config, plugin_registration=registration), clock=clock,
            connector=InMemoryConnector(clock, roles), plugins=helpers, discover=False, on_record=records.append,
        )  # fmt: skip
        async with remote, anyio.create_task_group() as group:
            registered = anyio.Event()
            group.start_soon(
                lambda: serve(plugin, address, registered=registered, listen=f"unix://{directory}/plugin.sock")
            )
            with anyio.fail_after(10):
                await registered.wait()
            group.start_soon(remote.run)
            with anyio.move_on_after(10):
                while _answered(records, spec.id) < ticks:  # noqa: ASYNC110  (records signal nothing)
                    await anyio.sleep(0.05)
            remote.stop()
            group.cancel_scope.cancel()
    report.statuses["grpc"], problems = _problems("grpc", spec.id, records)
    report.problems += problems
    slowest = _slowest_ms(spec.id, records)
    if slowest is not None:
        report.slowest_call_ms["grpc"] = slowest
    report.timing = _timing(spec, slowest)
    return report
