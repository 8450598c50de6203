"""A synthetic deployment: seeded Poisson traffic, engines of fixed capacity, an in-memory connector."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from planner_sdk import (
    ContextField,
    HoldPolicy,
    Observations,
    ObservePlugin,
    PluginSpec,
    ProposePlugin,
    ProposeResult,
    Role,
    Stage,
    TickContext,
    TrafficObservation,
)

from ..clock import Clock
from ..config import EmbeddedConfig, PlannerConfig
from ..connectors.memory import InMemoryConnector

__all__ = ["TrafficPattern", "SyntheticTraffic", "CapacityPropose", "EmbeddedWorld"]


@dataclass(frozen=True)
class TrafficPattern:
    """Mean request rate over time: constant, a sine wave, or a step up for the middle half-period."""

    pattern: str
    base: float
    amplitude: float
    period: float

    def rate(self, t: float) -> float:
        if self.pattern == "sine":
            return max(0.0, self.base + self.amplitude * math.sin(2 * math.pi * t / self.period))
        if self.pattern == "step":
            phase = (t % self.period) / self.period
            return self.base + (self.amplitude if 0.25 <= phase < 0.75 else 0.0)
        return self.base

    def expected_requests(self, start: float, end: float, steps: int = 16) -> float:
        """The rate integrated over [start, end) (midpoint rule; the rate is smooth or piecewise)."""
        width = (end - start) / steps
        return sum(self.rate(start + (i + 0.5) * width) for i in range(steps)) * width


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation: exact sampling is O(mean)
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class SyntheticTraffic(ObservePlugin):
    """Observes the synthetic frontend: requests and mean ISL/OSL over the window just ended."""

    def __init__(self, settings: EmbeddedConfig, interval_seconds: float, clock: Clock) -> None:
        self.spec = PluginSpec(id="embedded_traffic", stage=Stage.OBSERVE, execution_interval_seconds=interval_seconds)
        self.pattern = TrafficPattern(
            settings.pattern,
            settings.base_requests_per_second,
            settings.amplitude_requests_per_second,
            settings.period_seconds,
        )
        self.settings = settings
        self.clock = clock
        self.total_requests = 0
        self._rng = random.Random(settings.seed)
        self._origin = clock.monotonic()
        self._last: float | None = None

    async def observe(self, ctx: TickContext) -> Observations:
        now = self.clock.monotonic() - self._origin
        start = now - self.spec.execution_interval_seconds if self._last is None else self._last
        self._last = now
        if now <= start:
            return Observations()
        count = _poisson(self._rng, self.pattern.expected_requests(start, now))
        self.total_requests += count
        # Mean lengths wander around the configured means by a few percent per window.
        isl = self.settings.isl * self._rng.uniform(0.9, 1.1) if count else None
        osl = self.settings.osl * self._rng.uniform(0.9, 1.1) if count else None
        return Observations(traffic=TrafficObservation(now - start, float(count), isl, osl))


class CapacityPropose(ProposePlugin):
    """Sizes each role to the observed token demand over its per-engine capacity, with hysteresis.

    Grows when the smoothed demand needs more engines at `target_utilisation`; shrinks only
    when one engine fewer would still run below `scale_down_utilisation`, so it does not flap.
    """

    def __init__(
        self,
        settings: EmbeddedConfig,
        roles: tuple[Role, ...],
        interval_seconds: float,
        target_utilisation: float = 0.8,
        scale_down_utilisation: float = 0.65,
        smoothing: float = 0.3,
    ) -> None:
        self.spec = PluginSpec(
            id="embedded_capacity_propose",
            stage=Stage.PROPOSE,
            execution_interval_seconds=interval_seconds,
            needs=frozenset({ContextField.REPLICAS}),
            requires=frozenset({ContextField.TRAFFIC}),
            hold=HoldPolicy.NO_OPINION,
        )
        self.capacity = {
            Role.PREFILL: settings.prefill_tokens_per_second_per_engine,
            Role.DECODE: settings.decode_tokens_per_second_per_engine,
            Role.AGG: 1.0
            / (
                1.0 / settings.prefill_tokens_per_second_per_engine + 1.0 / settings.decode_tokens_per_second_per_engine
            ),
        }
        self.roles = roles
        self.target = target_utilisation
        self.down = scale_down_utilisation
        self.smoothing = smoothing
        self._demand: dict[Role, float] = {}

    async def propose(self, ctx: TickContext) -> ProposeResult:
        traffic = ctx.observations.traffic
        assert traffic is not None
        assert ctx.replicas is not None
        rate = (traffic.num_requests or 0.0) / traffic.window_seconds
        isl, osl = traffic.mean_isl or 0.0, traffic.mean_osl or 0.0
        demand = {Role.PREFILL: rate * isl, Role.DECODE: rate * osl, Role.AGG: rate * (isl + osl)}
        targets: dict[Role, int] = {}
        for role in self.roles:
            smoothed = self._demand.get(role, demand[role])
            smoothed += self.smoothing * (demand[role] - smoothed)
            self._demand[role] = smoothed
            current = ctx.replicas[role].expected
            needed = math.ceil(smoothed / (self.capacity[role] * self.target))
            if needed < current:
                # Shrink only as far as the survivors stay below the scale-down utilisation.
                needed = min(current, max(needed, math.floor(smoothed / (self.capacity[role] * self.down)) + 1))
            targets[role] = needed
        return ProposeResult.set(targets, reason=f"demand {rate:.2f} req/s")


class EmbeddedWorld:
    """The synthetic deployment: its connector and the plugins that observe and size it."""

    def __init__(self, config: PlannerConfig, clock: Clock) -> None:
        settings = config.embedded
        initial = {role: max(1, config.min_endpoint_for(role)) for role in config.roles}
        self.connector = InMemoryConnector(clock, initial, settings.startup_delay_seconds)
        interval = config.load_adjustment_interval_seconds
        self.traffic = SyntheticTraffic(settings, interval, clock)
        self.proposer = CapacityPropose(settings, config.roles, interval)

    @property
    def plugins(self) -> list[ObservePlugin | ProposePlugin]:
        return [self.traffic, self.proposer]
