"""A simulated day of looped traffic with a fault every hour: nothing the invariants forbid happens."""

from __future__ import annotations

import logging

import pytest

from planner.sim.faults import FAULTS, fault_schedule
from planner.sim.soak import run_soak


def test_every_simulated_hour_brings_a_fault_of_the_matrix() -> None:
    plan = fault_schedule(86400.0, seed=7)
    assert len(plan) == 24
    assert all(hour * 3600.0 <= start < end <= (hour + 1) * 3600.0 for hour, (start, end, _) in enumerate(plan))
    assert {fault for _, _, fault in plan} <= set(FAULTS)


def test_a_day_of_hourly_faults_breaks_no_invariant(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    result = run_soak(1.0, rate_scale=0.1)
    assert result.crashed == 0
    assert result.invariants.ticks == 8640  # every 10 s (the surge check), all day: no tick lost to a fault
    assert result.invariants.applied > 0
    assert result.invariants.violations == 0, result.invariants.problems[:5]
    assert sum(result.faults.values()) == 24
