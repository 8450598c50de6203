"""Synthetic traffic the shared traces do not cover: steady, steps, ramps, periodic loads, bursts, mixes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from planner_plugins.traces import Trace, poisson_trace

from ..errors import PlannerError

__all__ = [
    "ScenarioError",
    "Mix",
    "Scenario",
    "MIXES",
    "SCENARIOS",
    "VARIANTS",
    "steady",
    "steps",
    "ramp",
    "periodic",
    "on_off",
    "scenario_trace",
]

RateShape = Callable[[float], float]
"""Share of the peak rate (0..1) at time t."""


class ScenarioError(PlannerError):
    """A scenario parameter is out of range; the message names it and its value."""


def _check(name: str, value: float, low: float, high: float = math.inf) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ScenarioError(f"{name}={value!r} must be {bounds}")


def steady() -> RateShape:
    return lambda t: 1.0


def steps(duration_s: float, ratio: float) -> RateShape:
    """Low, then the peak over the middle third, then low again: a step up and a step down."""
    _check("steps ratio", ratio, 1.0)
    low = 1.0 / ratio
    return lambda t: 1.0 if duration_s / 3 <= t < 2 * duration_s / 3 else low


def ramp(duration_s: float, ratio: float) -> RateShape:
    """A linear climb from low to the peak over the first half, and back down over the second."""
    _check("ramp ratio", ratio, 1.0)
    low = 1.0 / ratio
    return lambda t: low + (1.0 - low) * (1.0 - abs(2.0 * t / duration_s - 1.0))


def periodic(period_s: float, ratio: float) -> RateShape:
    """A sine between peak/ratio (the trough, at t = 0) and the peak, every `period_s`."""
    _check("period_s", period_s, 60.0)
    _check("periodic ratio", ratio, 1.0, 1000.0)
    low = 1.0 / ratio
    return lambda t: low + (1.0 - low) * (1.0 - math.cos(2 * math.pi * t / period_s)) / 2


def on_off(on_s: float, every_s: float, ratio: float) -> RateShape:
    """Bursts at the peak for `on_s` out of every `every_s`, at peak/ratio between them."""
    _check("on_s", on_s, 1.0)
    _check("every_s", every_s, on_s * 1.5)
    _check("on-off ratio", ratio, 1.0)
    low = 1.0 / ratio
    return lambda t: 1.0 if (t % every_s) >= every_s - on_s else low


@dataclass(frozen=True)
class Mix:
    """Request lengths: lognormal input and output lengths around these means."""

    name: str
    isl: float
    osl: float
    length_cv: float = 0.5
    # (TTFT ms, ITL ms): tight is close to what one H200 engine does at all, loose is generous.
    tight: tuple[float, float] = (300.0, 15.0)
    loose: tuple[float, float] = (2000.0, 40.0)


MIXES: dict[str, Mix] = {
    "conversation": Mix("conversation", 1100.0, 250.0, tight=(250.0, 15.0), loose=(1500.0, 40.0)),
    "long_prompt": Mix("long_prompt", 8000.0, 200.0, tight=(1000.0, 20.0), loose=(3000.0, 40.0)),
    "decode_heavy": Mix("decode_heavy", 300.0, 800.0, tight=(100.0, 10.0), loose=(1000.0, 30.0)),
    "prefill_heavy": Mix("prefill_heavy", 16000.0, 120.0, tight=(1500.0, 15.0), loose=(5000.0, 35.0)),
}


@dataclass(frozen=True)
class Scenario:
    """One kind of traffic: a rate shape scaled to `peak_rate`, a length mix, a duration."""

    name: str
    shape: RateShape
    peak_rate: float
    mix: Mix
    duration_s: float = 3600.0
    bursts: bool = False  # changes faster than an engine starts: no causal policy can follow them

    def __post_init__(self) -> None:
        _check(f"{self.name}: peak_rate", self.peak_rate, 1e-3, 1e4)
        _check(f"{self.name}: duration_s", self.duration_s, 60.0, 7 * 86400.0)


def scenario_trace(scenario: Scenario, seed: int = 0) -> Trace:
    """The scenario's requests: Poisson arrivals at peak_rate * shape(t), lengths from its mix."""
    mix = scenario.mix
    return poisson_trace(
        scenario.name,
        lambda t: scenario.peak_rate * min(1.0, max(0.0, scenario.shape(t))),
        scenario.peak_rate,
        scenario.duration_s,
        isl=mix.isl,
        osl=mix.osl,
        length_cv=mix.length_cv,
        seed=seed,
    )


def _suite() -> list[Scenario]:
    hour = 3600.0
    chat, long, decode, prefill = (MIXES[m] for m in ("conversation", "long_prompt", "decode_heavy", "prefill_heavy"))
    return [
        Scenario("steady", steady(), 20.0, chat),
        Scenario("steps_up_down", steps(hour, 4.0), 20.0, long),
        Scenario("ramp", ramp(hour, 10.0), 30.0, chat),
        Scenario("periodic_5min", periodic(300.0, 10.0), 20.0, long),
        Scenario("periodic_10min", periodic(600.0, 25.0), 24.0, long),
        Scenario("periodic_30min", periodic(1800.0, 10.0), 24.0, long),
        Scenario("periodic_60min", periodic(3600.0, 25.0), 24.0, long),
        Scenario("on_off_bursts", on_off(60.0, 600.0, 10.0), 60.0, chat, bursts=True),
        Scenario("decode_heavy", periodic(1800.0, 3.0), 16.0, decode),
        Scenario("prefill_heavy", periodic(1800.0, 3.0), 5.0, prefill),
    ]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in _suite()}


def _variants() -> list[Scenario]:
    """The suite's kinds of traffic at other periods, ratios, mixes and burst lengths: what decisions
    tuned on the suite are checked against before they are trusted on traffic nobody has."""
    hour = 3600.0
    chat, long, decode, prefill = (MIXES[m] for m in ("conversation", "long_prompt", "decode_heavy", "prefill_heavy"))
    return [
        Scenario("periodic_7min_long", periodic(420.0, 5.0), 20.0, long),
        Scenario("periodic_12min_long", periodic(720.0, 3.0), 30.0, long),
        Scenario("periodic_15min_chat", periodic(900.0, 8.0), 40.0, chat),
        Scenario("periodic_20min_decode", periodic(1200.0, 15.0), 16.0, decode),
        Scenario("periodic_45min_prefill", periodic(2700.0, 4.0), 4.0, prefill),
        Scenario("steps_chat", steps(hour, 3.0), 40.0, chat),
        Scenario("ramp_long", ramp(hour, 6.0), 24.0, long),
        Scenario("steady_prefill", steady(), 3.0, prefill),
        Scenario("on_off_45s_chat", on_off(45.0, 450.0, 10.0), 60.0, chat, bursts=True),
        Scenario("on_off_90s_long", on_off(90.0, 600.0, 6.0), 20.0, long, bursts=True),
    ]


VARIANTS: dict[str, Scenario] = {s.name: s for s in _variants()}
