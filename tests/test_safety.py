"""Safety: min endpoints, GPU budget, direction-preserving, no scale-down while capacity is pending."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from planner.pipeline import SafetyGuard, SafetyLimits, enforce_limits
from planner.pipeline.safety import Cut
from planner_sdk import ReplicaCount, Role

P, D = Role.PREFILL, Role.DECODE


def limits(
    budget: int = 8, min_p: int = 1, min_d: int = 1, gpus_p: int = 1, gpus_d: int = 1, max_change: int | None = None
) -> SafetyLimits:
    return SafetyLimits(
        {P: min_p, D: min_d}, {P: gpus_p, D: gpus_d}, budget, pending_scale_down_timeout_seconds=600,
        max_change=max_change,
    )  # fmt: skip


def test_a_budget_cut_is_recorded_with_what_was_asked_and_kept() -> None:
    out = enforce_limits({P: 6, D: 2}, {P: 2, D: 2}, limits(budget=6))
    assert out.cuts == (Cut(P, 6, 4, "budget_capped"),)


def test_the_change_per_decision_is_capped_both_ways() -> None:
    out = enforce_limits({P: 20, D: 1}, {P: 1, D: 9}, limits(budget=-1, max_change=3))
    assert out.targets == {P: 4, D: 6}
    assert {(c.role, c.reason) for c in out.cuts} == {(P, "change_capped"), (D, "change_capped")}


def test_raising_to_the_min_endpoint_is_recorded() -> None:
    out = enforce_limits({P: 0}, {P: 2, D: 2}, limits(min_p=1))
    assert out.cuts == (Cut(P, 0, 1, "min_endpoint"),)


def test_a_held_scale_down_is_recorded_as_pending_capacity() -> None:
    guard = SafetyGuard(limits(budget=-1))
    out = guard.enforce({P: 1}, {P: ReplicaCount(ready=2, expected=3), D: ReplicaCount(1, 1)}, now=0.0)
    assert out.targets[P] == 3
    assert Cut(P, 1, 3, "pending_capacity") in out.cuts


def test_targets_below_min_endpoint_are_raised() -> None:
    out = enforce_limits({P: 0, D: 0}, {P: 2, D: 2}, limits(min_p=1, min_d=2))
    assert out.targets == {P: 1, D: 2}
    assert any("min endpoint" in r for r in out.reasons)


def test_budget_cuts_growing_roles_but_never_below_their_current_count() -> None:
    out = enforce_limits({P: 6, D: 6}, {P: 2, D: 2}, limits(budget=8))
    assert sum(out.targets.values()) == 8
    assert out.targets[P] >= 2
    assert out.targets[D] >= 2


def test_budget_respects_gpus_per_engine() -> None:
    out = enforce_limits({P: 4, D: 4}, {P: 1, D: 1}, limits(budget=10, gpus_p=2, gpus_d=1))
    assert out.targets[P] * 2 + out.targets[D] <= 10


def test_a_scale_up_is_never_turned_into_a_scale_down() -> None:
    # Already over budget (the budget was lowered): prefill asks to grow, decode holds.
    out = enforce_limits({P: 5}, {P: 4, D: 6}, limits(budget=8))
    assert out.targets[P] == 4  # held, not cut below current
    assert out.targets[D] == 4  # the holding role gives way, down to fit


def test_no_budget_means_no_cut() -> None:
    out = enforce_limits({P: 100, D: 100}, {P: 1, D: 1}, limits(budget=-1))
    assert out.targets == {P: 100, D: 100}


counts = st.integers(0, 40)


@given(
    counts,
    counts,
    counts,
    counts,
    st.integers(2, 64),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_property_safety_honours_min_budget_and_direction(
    req_p: int, req_d: int, cur_p: int, cur_d: int, budget: int, min_p: int, min_d: int, g_p: int, g_d: int
) -> None:
    lim = limits(budget, min_p, min_d, g_p, g_d)
    current = {P: cur_p, D: cur_d}
    requested = {P: req_p, D: req_d}
    out = enforce_limits(requested, current, lim).targets
    for role in (P, D):
        assert out[role] >= lim.min_endpoint[role]
        wanted = max(requested[role], lim.min_endpoint[role])
        if wanted > current[role]:
            assert current[role] <= out[role] <= wanted or out[role] == lim.min_endpoint[role] > current[role]
        else:
            assert out[role] <= max(current[role], lim.min_endpoint[role])
    used = out[P] * g_p + out[D] * g_d
    held_up = sum(
        max(current[r], lim.min_endpoint[r]) * lim.gpus_per_engine[r] for r in (P, D) if requested[r] > current[r]
    )
    held_min = sum(lim.min_endpoint[r] * lim.gpus_per_engine[r] for r in (P, D) if requested[r] <= current[r])
    if held_up + held_min <= budget:
        assert used <= budget


def test_scale_down_is_held_while_new_engines_are_starting() -> None:
    guard = SafetyGuard(limits(budget=16))
    replicas = {P: ReplicaCount(ready=2, expected=4), D: ReplicaCount(ready=2, expected=2)}
    out = guard.enforce({P: 3, D: 2}, replicas, now=0.0)
    assert out.targets[P] == 4
    assert any("still starting" in r for r in out.reasons)


def test_capacity_stuck_pending_past_the_timeout_stops_blocking_scale_down() -> None:
    guard = SafetyGuard(limits(budget=16))
    stuck = {P: ReplicaCount(ready=2, expected=4), D: ReplicaCount(ready=2, expected=2)}
    guard.enforce({P: 4, D: 2}, stuck, now=0.0)
    out = guard.enforce({P: 2, D: 2}, stuck, now=601.0)
    assert out.targets[P] == 2
    assert any("scale-down allowed" in r for r in out.reasons)


def test_scale_up_goes_through_while_capacity_is_pending() -> None:
    guard = SafetyGuard(limits(budget=16))
    replicas = {P: ReplicaCount(ready=2, expected=4), D: ReplicaCount(ready=2, expected=2)}
    assert guard.enforce({P: 6, D: 2}, replicas, now=0.0).targets[P] == 6
