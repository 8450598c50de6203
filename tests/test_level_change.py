"""A window that straddles a change of level is read as two levels, not as a burst, once the next window shows it."""

from __future__ import annotations

from test_horizon_sizing import PERF, D, P

from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.signals import FrontendWindow
from planner_plugins.propose.burstiness import Burstiness, straddles_a_level_change
from planner_plugins.traces import poisson_trace


def window_readings(step_at: float, windows: int = 4) -> list[tuple[float, float]]:
    """(dispersion, count) of consecutive 60 s windows of arrivals that step from 10 to 40 a second at `step_at`."""
    trace = poisson_trace("step", lambda t: 10.0 if t < step_at else 40.0, 40.0, 60.0 * windows, seed=5)
    cluster = SimCluster(PERF, trace.requests, {P: 4, D: 4}, SimSettings())
    cluster.advance_to(60.0 * windows)
    frontend = FrontendWindow(cluster)
    readings = []
    for k in range(windows):
        traffic = frontend.traffic(60.0 * k, 60.0 * (k + 1))
        assert traffic.arrival_dispersion is not None
        assert traffic.num_requests is not None
        readings.append((traffic.arrival_dispersion, traffic.num_requests))
    return readings


def test_a_step_inside_a_window_reads_as_a_burst_on_its_own() -> None:
    straddled = window_readings(step_at=70.0)[1]
    assert straddled[0] > 10.0  # the simulated frontend's dispersion, around the window's line


def test_once_the_next_window_holds_the_new_level_the_straddled_reading_is_taken_back() -> None:
    reading = Burstiness()
    for dispersion, count in window_readings(step_at=70.0):
        reading.observe(dispersion, 60.0, count)
    assert reading.value < 1.5


def test_a_burst_the_next_window_falls_back_from_is_kept() -> None:
    reading = Burstiness()
    for dispersion, count in ((1.0, 600.0), (30.0, 1400.0), (1.0, 610.0)):
        reading.observe(dispersion, 60.0, count)
    assert reading.value > 10.0


def test_a_level_change_is_a_count_between_neighbours_far_apart() -> None:
    assert straddles_a_level_change(600.0, 1400.0, 2400.0)
    assert straddles_a_level_change(2400.0, 1400.0, 600.0)  # down as well as up
    assert not straddles_a_level_change(600.0, 1400.0, 610.0)  # back again: a burst
    assert not straddles_a_level_change(600.0, 630.0, 660.0)  # a slow rise within the noise
    assert not straddles_a_level_change(10.0, 14.0, 18.0)  # half as much again, but within Poisson noise


def test_a_level_that_does_not_hold_into_the_window_after_was_a_burst_after_all() -> None:
    reading = Burstiness()
    for dispersion, count in ((1.0, 600.0), (30.0, 1400.0), (1.0, 2400.0)):
        reading.observe(dispersion, 60.0, count)
    assert reading.value < 1.5  # taken back: it looked like a step
    reading.observe(1.0, 60.0, 620.0)  # back to the level before: a 90 s burst straddling two windows
    assert reading.value > 10.0
