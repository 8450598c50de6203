"""The scenario generator and the targets the scenario suite judges by."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from planner.config import PlannerConfig
from planner.sim.compare import compare_policies, judge
from planner.sim.scenarios import (
    SCENARIOS,
    VARIANTS,
    ScenarioError,
    on_off,
    periodic,
    ramp,
    scenario_trace,
    steps,
)
from planner_plugins.traces import iter_windows

ROOT = Path(__file__).resolve().parents[1]


def test_every_scenario_generates_a_seeded_trace_of_its_duration() -> None:
    for scenario in [*SCENARIOS.values(), *VARIANTS.values()]:
        short = replace(scenario, duration_s=600.0)
        trace = scenario_trace(short, seed=3)
        assert trace.requests == scenario_trace(short, seed=3).requests
        assert 0 < trace.duration <= 600.0


def test_the_variants_are_the_suites_kinds_of_traffic_under_other_names() -> None:
    assert not set(VARIANTS) & set(SCENARIOS)
    kinds = ("periodic", "steps", "ramp", "steady", "on_off")
    assert all(any(name.startswith(kind) for name in VARIANTS) for kind in kinds)
    assert {s.mix.name for s in VARIANTS.values()} == {s.mix.name for s in SCENARIOS.values()}
    assert all(s.bursts == s.name.startswith("on_off") for s in VARIANTS.values())


def test_a_periodic_load_swings_between_its_trough_and_peak() -> None:
    shape = periodic(600.0, 10.0)
    assert shape(0.0) == pytest.approx(0.1)
    assert shape(300.0) == pytest.approx(1.0)
    assert shape(600.0) == pytest.approx(0.1)


def test_the_periodic_scenario_traffic_follows_its_shape() -> None:
    trace = scenario_trace(replace(SCENARIOS["periodic_10min"], duration_s=1200.0))
    counts = [len(requests) for _, requests in iter_windows(trace, 60.0)]
    assert max(counts) > 10 * min(counts)  # peak/trough 25 x, less Poisson noise


def test_steps_ramps_and_bursts_have_their_shapes() -> None:
    assert [steps(900.0, 4.0)(t) for t in (0, 400, 700)] == [0.25, 1.0, 0.25]
    assert ramp(1000.0, 10.0)(500.0) == pytest.approx(1.0)
    burst = on_off(60.0, 600.0, 10.0)
    assert burst(100.0) == pytest.approx(0.1)
    assert burst(570.0) == 1.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: periodic(10.0, 5.0), "period_s=10.0 must be >= 60"),
        (lambda: periodic(600.0, 0.5), "periodic ratio=0.5 must be in [1, 1000]"),
        (lambda: on_off(60.0, 70.0, 4.0), "every_s=70.0 must be >= 90"),
        (lambda: replace(SCENARIOS["steady"], peak_rate=-1.0), "steady: peak_rate=-1.0 must be in"),
        (lambda: replace(SCENARIOS["steady"], duration_s=float("nan")), "steady: duration_s=nan"),
    ],
)
def test_out_of_range_parameters_are_refused_by_name(make: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make()  # type: ignore[operator]


def test_a_comparison_scores_three_policies_against_one_oracle_and_names_its_misses() -> None:
    trace = scenario_trace(replace(SCENARIOS["steady"], duration_s=300.0, peak_rate=4.0))
    comparison = compare_policies("steady", trace, 1000.0, 40.0, startup_s=30.0)
    assert set(comparison.results) == {"static", "dynamo", "planner"}
    assert all(r.oracle_gpu_hours == comparison.oracle.gpu_hours for r in comparison.results.values())
    assert comparison.as_json()["checks_failed"] == judge(comparison).failed
    static = comparison.results["static"]
    comparison.results["planner"] = replace(
        comparison.results["planner"], sla_attainment=0.5, gpu_hours=2 * static.gpu_hours + comparison.oracle.gpu_hours
    )
    failed = judge(comparison).failed
    assert "SLA 50.0% < 99%" in failed
    assert any("x oracle > 1.15" in f for f in failed)
    assert "worse than static on cost and SLA" in failed


def test_the_planner_alone_is_judged_without_the_checks_against_the_others() -> None:
    trace = scenario_trace(replace(SCENARIOS["steady"], duration_s=300.0, peak_rate=4.0))
    comparison = compare_policies("steady", trace, 1000.0, 40.0, startup_s=30.0, policies=("planner",))
    assert set(comparison.results) == {"planner"}
    comparison.results["planner"] = replace(comparison.results["planner"], sla_attainment=0.5)
    assert judge(comparison).failed == ["SLA 50.0% < 99%"]


def test_the_planner_policy_is_what_a_newcomer_writes() -> None:
    from planner.sim.compare import policy_configs

    planner = dict(policy_configs(300.0, 20.0, 60.0, (2, 2)))["planner"]
    assert planner.optimization_target == "sla"
    assert planner.model_fields_set >= {"ttft_ms", "itl_ms"}
    assert "optimization_target" not in planner.model_fields_set
    assert planner.queue_aware_quantile == PlannerConfig().queue_aware_quantile


def refused_by_the_benchmark(*args: str) -> str:
    """What `benchmarks/scenarios.py` says on stderr when it refuses `args` (exit status 2)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scenarios.py"), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    return result.stderr


def test_the_scenario_benchmark_refuses_bad_parameters() -> None:
    assert "--peak-scale=0.0 must be >= 0.001" in refused_by_the_benchmark("--peak-scale", "0", "--no-shared")


def test_the_scenario_benchmark_names_the_variants_when_asked_for_one_it_lacks() -> None:
    stderr = refused_by_the_benchmark("--variants", "--scenario", "steady")
    assert "--scenario 'steady' is not one of on_off_45s_chat" in stderr


def test_the_interval_breakdown_adds_up_to_the_replays_attainment_beside_the_oracles_fleet() -> None:
    from planner.sim.breakdown import interval_breakdown
    from planner.sim.compare import policy_configs
    from planner.sim.replay import oracle_for

    trace = scenario_trace(replace(SCENARIOS["periodic_10min"], duration_s=600.0, peak_rate=6.0))
    config = dict(policy_configs(1000.0, 20.0, 60.0, (2, 2), startup_s=30.0))["planner"]
    oracle = oracle_for(config, trace)
    breakdown = interval_breakdown(config, trace, oracle)
    rows = breakdown.rows
    assert [r.index for r in rows] == list(range(len(rows)))
    assert len(rows) >= 10
    assert sum(r.arrivals for r in rows) == len(trace.requests)
    assert sum(r.met for r in rows) / len(trace.requests) == pytest.approx(breakdown.result.sla_attainment)
    assert all(r.oracle == (w.prefill, w.decode) for r, w in zip(rows, oracle.windows, strict=False))
    assert any("forecast misses" in r.reason for r in rows)  # the proposer's reason, interval by interval


def test_the_interval_benchmark_prints_one_line_per_interval() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "minutes.py"), "--scenario", "steady", "--target", "loose"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[0].startswith("steady (loose) TTFT 1500 ms, ITL 40 ms, planner:")
    assert len(lines) == 2 + 60  # the title, the header, an hour of minutes
