"""A contract-test kit for plugin authors: drive your plugin through real ticks of the planner.

    from planner_sdk.testing import check_plugin

    async def test_my_plugin_keeps_the_contract():
        report = await check_plugin(MyPlugin())
        assert report.ok, report.problems

It runs the plugin through real ticks of the planner's pipeline, first in-process and then over
gRPC (a registry on a temporary Unix socket, the plugin served by `serve()`), and reports every
call that failed, timed out or broke the contract. It needs the `planner` package installed
(`pip install planner`), which it imports only when called.
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
    from planner import InMemoryConnector, Planner, PlannerConfig, VirtualClock, WallClock

    spec = plugin.spec
    interval = spec.execution_interval_seconds
    report = ContractReport()
    roles = {Role.PREFILL: 2, Role.DECODE: 2}
    config: dict[str, Any] = {"environment": "virtual", "max_gpu_budget": -1}
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

    clock = VirtualClock()
    records: list[Any] = []
    planner = Planner(
        PlannerConfig(**config), clock=clock, connector=InMemoryConnector(clock, roles), plugins=[plugin, *helpers],
        discover=False, on_record=records.append,
    )  # fmt: skip
    async with planner, clock.autojump():
        await planner.run(max_ticks=ticks)
    report.statuses["in-process"], problems = _problems("in-process", spec.id, records)
    report.problems += problems
    if not over_grpc:
        return report

    with tempfile.TemporaryDirectory(prefix="planner-contract-") as directory:
        address = f"unix://{directory}/registry.sock"
        registration = {"endpoints": [address], "allow_insecure": True, "heartbeat_interval_seconds": 1.0}
        wall = WallClock()
        records = []
        remote = Planner(
            PlannerConfig(**config, plugin_registration=registration,
                          scheduling={"scale_interval_seconds": min(interval, 0.2)}),
            clock=wall, connector=InMemoryConnector(wall, roles), plugins=helpers, discover=False,
            on_record=records.append,
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
    return report
