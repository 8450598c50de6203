"""Small plugins and builders the tests compose into real pipelines."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from planner import InMemoryConnector, Planner, PlannerConfig, TickRecord, VirtualClock
from planner.sim.cluster import SimCluster
from planner.sim.engines import SimRequest
from planner.sim.world import load_perf
from planner_plugins.perf.learnt import EngineModelLearner
from planner_plugins.traces import synthetic_trace
from planner_sdk import (
    ApplyAck,
    ApplyPlugin,
    ClampPlugin,
    ContextField,
    Decision,
    HoldPolicy,
    Observations,
    ObservePlugin,
    OnError,
    PluginSpec,
    Predictions,
    PredictPlugin,
    PredictResult,
    ProposePlugin,
    ProposeResult,
    Role,
    Stage,
    TickContext,
    TrafficObservation,
)

PD = (Role.PREFILL, Role.DECODE)


def config(**overrides: Any) -> PlannerConfig:
    """A config for tests: generous budget, no embedded world, 5 s default plugin timeout."""
    base: dict[str, Any] = {"max_gpu_budget": 64, "environment": "virtual"}
    base.update(overrides)
    return PlannerConfig(**base)


def spec(plugin_id: str, stage: Stage, interval: float = 5.0, **kw: Any) -> PluginSpec:
    return PluginSpec(id=plugin_id, stage=stage, execution_interval_seconds=interval, **kw)


class Propose(ProposePlugin):
    """Answers with `answer(ctx)` (or a fixed result) and counts its calls."""

    def __init__(self, plugin_id: str, answer: ProposeResult | Callable[[TickContext], Any], **kw: Any) -> None:
        self.spec = spec(plugin_id, Stage.PROPOSE, **kw)
        self._answer = answer
        self.calls: list[TickContext] = []

    async def propose(self, ctx: TickContext) -> ProposeResult:
        self.calls.append(ctx)
        if callable(self._answer):
            return self._answer(ctx)  # type: ignore[no-any-return]
        return self._answer


class CyclingPropose(ProposePlugin):
    """Asks for one prefill engine more than are expected (3 wraps to 1), so every tick is a
    decision, for a leader and for a follower watching another leader's changes alike (counting by
    tick id, a follower ticking in phase with the leader would always ask for what it sees).
    Built by config (`helpers:CyclingPropose`) in planner processes the tests start."""

    def __init__(self, interval_seconds: float = 1.0) -> None:
        self.spec = spec("cycling", Stage.PROPOSE, interval_seconds, needs=frozenset({ContextField.REPLICAS}))

    async def propose(self, ctx: TickContext) -> ProposeResult:
        current = ctx.replicas[Role.PREFILL].expected if ctx.replicas and Role.PREFILL in ctx.replicas else 0
        return set_targets(1 + current % 3, 1)


class Clamp(ClampPlugin):
    def __init__(self, plugin_id: str, answer: ProposeResult, **kw: Any) -> None:
        self.spec = spec(plugin_id, Stage.CLAMP, **kw)
        self.answer = answer
        self.seen: list[Mapping[Role, int] | None] = []

    async def clamp(self, ctx: TickContext) -> ProposeResult:
        self.seen.append(ctx.proposal)
        return self.answer


class Predict(PredictPlugin):
    def __init__(self, plugin_id: str, predictions: Predictions, final: bool = False, **kw: Any) -> None:
        self.spec = spec(plugin_id, Stage.PREDICT, **kw)
        self.result = PredictResult(predictions, final=final)
        self.seen: list[Predictions] = []

    async def predict(self, ctx: TickContext) -> PredictResult:
        self.seen.append(ctx.predictions)
        return self.result


class Observe(ObservePlugin):
    def __init__(self, plugin_id: str, observations: Observations, **kw: Any) -> None:
        self.spec = spec(plugin_id, Stage.OBSERVE, **kw)
        self.observations = observations

    async def observe(self, ctx: TickContext) -> Observations:
        return self.observations


class Hang(ProposePlugin):
    """Never answers (async): only a timeout ends the call."""

    def __init__(self, plugin_id: str = "hang", **kw: Any) -> None:
        self.spec = spec(plugin_id, Stage.PROPOSE, **kw)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


class SyncHang(ProposePlugin):
    """A synchronous plugin stuck in its worker thread until released."""

    def __init__(self, plugin_id: str = "sync_hang", **kw: Any) -> None:
        self.spec = spec(plugin_id, Stage.PROPOSE, **kw)
        self.release = threading.Event()

    def propose(self, ctx: TickContext) -> ProposeResult:
        self.release.wait(timeout=30)
        return ProposeResult.set({Role.PREFILL: 9})


class Sleepy(ProposePlugin):
    """Answers after `seconds` of the injected clock."""

    def __init__(
        self, clock: VirtualClock, seconds: float, answer: ProposeResult, plugin_id: str = "sleepy", **kw: Any
    ):
        self.spec = spec(plugin_id, Stage.PROPOSE, **kw)
        self.clock, self.seconds, self.answer = clock, seconds, answer

    async def propose(self, ctx: TickContext) -> ProposeResult:
        await self.clock.sleep_until(self.clock.monotonic() + self.seconds)
        return self.answer


class Recorder(ApplyPlugin):
    def __init__(self, plugin_id: str = "recorder") -> None:
        self.spec = spec(plugin_id, Stage.APPLY)
        self.decisions: list[Decision] = []

    async def apply(self, ctx: TickContext, decision: Decision) -> ApplyAck:
        self.decisions.append(decision)
        return ApplyAck(decision.decision_id)


def traffic(num_requests: float = 100.0, window: float = 60.0) -> Observations:
    return Observations(traffic=TrafficObservation(window, num_requests, 3000.0, 150.0))


def set_targets(prefill: int, decode: int, **kw: Any) -> ProposeResult:
    return ProposeResult.set({Role.PREFILL: prefill, Role.DECODE: decode}, **kw)


def memory(clock: VirtualClock, prefill: int = 1, decode: int = 1, delay: float = 0.0) -> InMemoryConnector:
    return InMemoryConnector(clock, {Role.PREFILL: prefill, Role.DECODE: decode}, delay)


def planner(
    clock: VirtualClock,
    *plugins: Any,
    connector: InMemoryConnector | None = None,
    records: list[TickRecord] | None = None,
    tracer_provider: Any = None,
    **config_overrides: Any,
) -> Planner:
    """A planner on the virtual clock with only `plugins`; tick records go to `records`."""
    return Planner(
        config(**config_overrides),
        clock=clock,
        connector=connector or memory(clock),
        plugins=plugins,
        discover=False,
        on_record=None if records is None else records.append,
        tracer_provider=tracer_provider,
    )


__all__ = [
    "PD",
    "Clamp",
    "ContextField",
    "Hang",
    "HoldPolicy",
    "Observe",
    "OnError",
    "Predict",
    "Propose",
    "Recorder",
    "Sleepy",
    "SyncHang",
    "config",
    "math",
    "memory",
    "planner",
    "set_targets",
    "spec",
    "traffic",
]


class Floor(ProposePlugin):
    """A floor per role from plain kwargs, as a config entry would build it."""

    def __init__(self, plugin_id: str, prefill: int, decode: int, interval: float = 5.0) -> None:
        self.spec = spec(plugin_id, Stage.PROPOSE, interval)
        self.floor = {Role.PREFILL: prefill, Role.DECODE: decode}

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.at_least(self.floor)


def entry_point_factory(settings: Mapping[str, Any]) -> list[Floor]:
    """A `planner.plugins` entry point target: contributes a floor sized from the settings."""
    return [Floor("ep_floor", settings["min_endpoint"] + 1, settings["min_endpoint"] + 2)]


def finished_requests(cluster: SimCluster) -> list[SimRequest]:
    """Every request the simulated cluster finishes from now on, in the order they finish (the
    cluster itself keeps only their latencies)."""
    finished: list[SimRequest] = []
    cluster.on_complete.append(finished.append)
    return finished


def varying_load(minutes: float = 30) -> tuple[SimCluster, EngineModelLearner, float, float]:
    """A simulated fleet of 3+3 engines (the bundled H200 profile) under a load that swings 1-11 req/s,
    its metrics fed to a learner every 5 s as builtin_engine_model does; and the traffic's ISL, OSL."""
    trace = synthetic_trace("sine", minutes * 60, 6.0, amplitude=5.0, period_s=600, isl=3000, osl=200, seed=3)
    cluster = SimCluster(load_perf(PlannerConfig()), trace.requests, {Role.PREFILL: 3, Role.DECODE: 3})
    learner = EngineModelLearner()
    t = 5.0
    while t < trace.duration:
        cluster.advance_to(t)
        learner.observe(cluster.worker_loads())
        learner.model()
        t += 5.0
    return cluster, learner, 3000.0, 200.0
