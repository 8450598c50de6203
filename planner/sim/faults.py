"""Faults to put the planner through: a failing connector, a failing observer, a misbehaving plugin.

Each is switched by a `FaultSwitch` (on for a named fault, off otherwise), so a long run can turn
faults on and off on a seeded schedule while the planner runs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from planner_sdk import (
    Decision,
    Observations,
    ObservePlugin,
    PluginSpec,
    ProposePlugin,
    ProposeResult,
    ReplicaCount,
    Role,
    Stage,
    TickContext,
    TrafficObservation,
)

from ..clock import Clock
from ..errors import ConnectorError
from .signals import SimObserve

__all__ = ["CONNECTOR_FAULTS", "FAULTS", "FaultSwitch", "FaultyConnector", "FaultyObserve", "FaultyPropose",
           "fault_schedule"]  # fmt: skip

CONNECTOR_FAULTS = ("connector_conflict", "connector_unavailable", "connector_hang")
OBSERVE_FAULTS = ("observe_down", "observe_garbage")
PLUGIN_FAULTS = ("plugin_hang", "plugin_crash", "plugin_negative", "plugin_huge")
FAULTS = CONNECTOR_FAULTS + OBSERVE_FAULTS + PLUGIN_FAULTS


@dataclass
class FaultSwitch:
    """Which fault is on now (None: none), and how often each was switched on."""

    active: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def turn_on(self, fault: str | None) -> None:
        self.active = fault
        if fault is not None:
            self.counts[fault] = self.counts.get(fault, 0) + 1


def fault_schedule(seconds: float, seed: int, every_s: float = 3600.0) -> list[tuple[float, float, str]]:
    """(start, end, fault): one fault in every `every_s`, at a random time within it, lasting 5-20 min."""
    rng = random.Random(seed)
    plan = []
    for hour in range(math.ceil(seconds / every_s)):
        start = hour * every_s + rng.uniform(0.0, every_s - 1200.0)
        plan.append((start, start + rng.uniform(300.0, 1200.0), rng.choice(FAULTS)))
    return plan


class FaultyConnector:
    """A connector that fails as the switch says (every other apply while on), and keeps every
    decision id it handed to the deployment (a duplicate apply shows up there)."""

    def __init__(self, inner: Any, switch: FaultSwitch) -> None:
        self.inner, self.switch = inner, switch
        self.handed_out: list[int] = []
        self._calls = 0

    async def current_replicas(self) -> Mapping[Role, ReplicaCount]:
        if self.switch.active == "connector_unavailable":
            raise ConnectorError("503 Service Unavailable")
        return dict(await self.inner.current_replicas())

    async def apply(self, decision: Decision) -> None:
        self._calls += 1
        fault = self.switch.active
        if fault in CONNECTOR_FAULTS and self._calls % 2 == 1:
            if fault == "connector_hang":
                await anyio.sleep_forever()  # the tick's deadline must cut it
            raise ConnectorError("409 Conflict: the object was modified" if fault == "connector_conflict" else "503")
        self.handed_out.append(decision.decision_id)
        await self.inner.apply(decision)

    async def wait_ready(self, deadline: float) -> bool:
        return bool(await self.inner.wait_ready(deadline))

    async def aclose(self) -> None:
        return None


class FaultyObserve(ObservePlugin):
    """The simulated deployment's observer, down or answering garbage while the switch says so."""

    def __init__(self, inner: SimObserve, switch: FaultSwitch) -> None:
        self.spec = inner.spec
        self.inner, self.switch = inner, switch

    async def observe(self, ctx: TickContext) -> Observations:
        observed = await self.inner.observe(ctx)  # the simulation moves on whatever the fault
        if self.switch.active == "observe_down":
            raise ConnectionError("metrics source unreachable")
        if self.switch.active == "observe_garbage":
            return Observations(traffic=TrafficObservation(60.0, math.nan, -1.0, math.inf), workers=observed.workers)
        return observed


class FaultyPropose(ProposePlugin):
    """Has no opinion while healthy; hangs, raises or answers nonsense while the switch says so."""

    def __init__(self, clock: Clock, switch: FaultSwitch, interval_s: float) -> None:
        self.spec = PluginSpec(id="faulty_propose", stage=Stage.PROPOSE, execution_interval_seconds=interval_s,
                               timeout_seconds=5.0)  # fmt: skip
        self.clock, self.switch = clock, switch

    async def propose(self, ctx: TickContext) -> ProposeResult:
        fault = self.switch.active
        if fault == "plugin_hang":
            await self.clock.sleep_until(self.clock.monotonic() + 86400.0)
        if fault == "plugin_crash":
            raise RuntimeError("the plugin crashed")
        if fault == "plugin_negative":
            return ProposeResult.set({Role.DECODE: -3})
        if fault == "plugin_huge":
            return ProposeResult.set({Role.DECODE: 10**9})
        return ProposeResult.accept("healthy")
