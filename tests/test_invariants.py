"""The invariant checker the fault matrix and the soak rely on catches each kind of violation."""

from __future__ import annotations

from typing import Any

from planner.config import PlannerConfig
from planner.sim.invariants import check_run

CONFIG = PlannerConfig(max_gpu_budget=8, environment="virtual")


def applied(tick: int, decision: int, prefill: int, decode: int, duration_ms: float = 5.0) -> dict[str, Any]:
    return {"tick_id": tick, "decision_id": decision, "outcome": "applied", "duration_ms": duration_ms,
            "targets": {"prefill": prefill, "decode": decode}}  # fmt: skip


def test_a_clean_run_has_no_violations() -> None:
    report = check_run(
        [applied(1, 1, 2, 2), {"tick_id": 2, "outcome": "no_change"}, applied(3, 2, 3, 3)], CONFIG, [1, 2]
    )
    assert (report.ticks, report.applied, report.violations) == (3, 2, 0)


def test_targets_over_the_budget_or_under_the_minimum_are_outside_the_limits() -> None:
    report = check_run([applied(1, 1, 5, 5), applied(2, 2, 0, 1)], CONFIG)
    assert report.outside_limits == 2
    assert "10 GPUs > max_gpu_budget 8" in report.problems[0]


def test_an_id_that_goes_back_is_a_regression() -> None:
    assert check_run([applied(1, 5, 1, 1), applied(2, 3, 1, 1)], CONFIG).id_regressions == 1


def test_an_id_handed_to_the_deployment_twice_is_a_duplicate_apply() -> None:
    assert check_run([applied(1, 1, 1, 1)], CONFIG, [1, 1]).duplicate_applies == 1


def test_an_apply_by_a_tick_past_its_deadline_is_late() -> None:
    assert check_run([applied(1, 1, 1, 1, duration_ms=31_000.0)], CONFIG).late_applies == 1
