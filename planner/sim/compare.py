"""Score the planner's default against a static peak fleet, Dynamo's planner and the oracle on one trace."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from planner_plugins.traces import Trace

from ..config import PlannerConfig
from .oracle import OracleResult
from .replay import ReplayResult, oracle_for, replay_config, starting_from

__all__ = ["Comparison", "Checks", "POLICIES", "policy_configs", "policy_setup", "compare_policies", "judge"]

FOLLOW_ATTAINMENT = 0.99
FOLLOW_COST = 1.15  # x oracle GPU-hours, for traffic a causal policy can follow
BURST_COST = 0.6  # x static peak GPU-hours, for bursts shorter than an engine's start-up
MAX_ACTIONS_PER_STARTUP = 1.0  # scale actions per role per start-up delay, on average
POLICIES = ("static", "dynamo", "planner")
ARIMA_TIMEOUT_S = 300.0


def policy_configs(
    ttft_ms: float, itl_ms: float, interval_s: float, peak: tuple[int, int], startup_s: float = 120.0
) -> list[tuple[str, PlannerConfig]]:
    """static: the peak fleet all along; dynamo: Dynamo's SLA planner (ARIMA, mean-rate formula);
    planner: only what a newcomer sets, the targets (and no GPU budget, as the others have none)."""
    common: dict[str, Any] = {
        "ttft_ms": ttft_ms, "itl_ms": itl_ms, "max_gpu_budget": -1,
        "throughput_adjustment_interval_seconds": interval_s,
    }  # fmt: skip
    sim: dict[str, Any] = {"startup_delay_seconds": startup_s}
    peak_fleet = {**sim, "initial_prefill": peak[0], "initial_decode": peak[1]}
    dynamo: dict[str, Any] = {
        "optimization_target": "sla", "load_predictor": "arima", "throughput_sizing": "dynamo",
        # auto_arima fits took 5.1 s (the first) and 16.2 s (a refit) on a 2-core machine running the suite, past
        # the default 5 s plugin timeout; Dynamo runs them unbounded, and the baseline must not depend on load.
        "plugin_registration": {"transport": {"request_timeout_seconds": ARIMA_TIMEOUT_S}},
    }  # fmt: skip
    return [
        ("static", PlannerConfig(**common, advisory=True, simulation=peak_fleet)),
        ("dynamo", PlannerConfig(**common, **dynamo, simulation=sim)),
        ("planner", PlannerConfig(**common, simulation=sim)),
    ]


@dataclass
class Checks:
    """Which of the issue's targets a comparison meets; `failed` names the misses."""

    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Comparison:
    label: str
    ttft_ms: float
    itl_ms: float
    bursts: bool
    startup_s: float
    oracle: OracleResult
    oracle_seconds: float
    results: dict[str, ReplayResult]

    def ratio(self, name: str) -> float:
        return self.results[name].gpu_hours / self.oracle.gpu_hours if self.oracle.gpu_hours else float("nan")

    def actions_per_startup(self, name: str) -> float:
        """Scale actions per role per start-up delay (the busier role), averaged over the trace."""
        result = self.results[name]
        periods = max(1.0, result.simulated_seconds / self.startup_s)
        return max(result.scale_actions_by_role.values(), default=0) / periods

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "ttft_ms": self.ttft_ms, "itl_ms": self.itl_ms, "bursts": self.bursts,
            "oracle_gpu_hours": self.oracle.gpu_hours, "oracle_startup_gpu_hours": self.oracle.startup_gpu_hours,
            "oracle_infeasible_windows": self.oracle.infeasible,
            "oracle_seconds": self.oracle_seconds, "checks_failed": judge(self).failed,
            "results": {name: {**r.as_json(), "actions_per_startup": self.actions_per_startup(name)}
                        for name, r in self.results.items()},
        }  # fmt: skip


def policy_setup(
    trace: Trace, ttft_ms: float, itl_ms: float, interval_s: float = 60.0, startup_s: float = 120.0
) -> tuple[OracleResult, list[tuple[str, PlannerConfig]]]:
    """The oracle's sizing of `trace`, and each policy's config starting from its first-window fleet
    (its peak sizes the static fleet)."""
    probe = PlannerConfig(ttft_ms=ttft_ms, itl_ms=itl_ms, max_gpu_budget=-1,
                          throughput_adjustment_interval_seconds=interval_s)  # fmt: skip
    oracle = oracle_for(probe, trace)
    configs = policy_configs(ttft_ms, itl_ms, interval_s, oracle.peak_fleet, startup_s)
    return oracle, [(name, starting_from(config, oracle.first_fleet)) for name, config in configs]


def compare_policies(
    label: str,
    trace: Trace,
    ttft_ms: float,
    itl_ms: float,
    *,
    interval_s: float = 60.0,
    startup_s: float = 120.0,
    bursts: bool = False,
    policies: Collection[str] = POLICIES,
) -> Comparison:
    """The oracle first (its peak sizes the static fleet, its first window starts the dynamic ones);
    then each of `policies` (a subset of POLICIES: the planner alone is quick to iterate on)."""
    started = time.perf_counter()
    oracle, configs = policy_setup(trace, ttft_ms, itl_ms, interval_s, startup_s)
    oracle_seconds = time.perf_counter() - started
    results: dict[str, ReplayResult] = {}
    for name, config in configs:
        if name not in policies:
            continue
        result = replay_config(config, trace, name=name)
        result.oracle_gpu_hours = oracle.gpu_hours
        results[name] = result
    return Comparison(label, ttft_ms, itl_ms, bursts, startup_s, oracle, oracle_seconds, results)


def judge(comparison: Comparison) -> Checks:
    """The targets: SLA >= 99 % at <= 1.15 x the oracle (bursts: <= 0.6 x the static fleet); never worse
    than the static fleet on cost and attainment at once; no flapping; Dynamo beaten on attainment.
    A check against a policy that was not run is left out (and so is the burst rows' cost check
    without the static fleet)."""
    checks = Checks()
    planner = comparison.results["planner"]
    static, dynamo = comparison.results.get("static"), comparison.results.get("dynamo")
    if planner.sla_attainment < FOLLOW_ATTAINMENT:
        checks.failed.append(f"SLA {100 * planner.sla_attainment:.1f}% < 99%")
    if comparison.bursts:
        if static is not None and planner.gpu_hours > BURST_COST * static.gpu_hours:
            checks.failed.append(f"{planner.gpu_hours / static.gpu_hours:.2f} x static > {BURST_COST}")
    elif comparison.ratio("planner") > FOLLOW_COST:
        checks.failed.append(f"{comparison.ratio('planner'):.2f} x oracle > {FOLLOW_COST}")
    if static is not None and planner.gpu_hours > static.gpu_hours and planner.sla_attainment < static.sla_attainment:
        checks.failed.append("worse than static on cost and SLA")
    if comparison.actions_per_startup("planner") > MAX_ACTIONS_PER_STARTUP:
        checks.failed.append(f"flapping: {comparison.actions_per_startup('planner'):.2f} actions/start-up")
    if dynamo is not None and planner.sla_attainment < dynamo.sla_attainment:
        checks.failed.append("Dynamo-style attains more")
    return checks
