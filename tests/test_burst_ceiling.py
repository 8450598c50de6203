"""Bursty arrivals get no more than their busiest slice needs as Poisson arrivals: dispersion is not counted twice."""

from __future__ import annotations

import math

from test_horizon_sizing import PERF, D, P

from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.scenarios import on_off
from planner.sim.signals import FrontendWindow
from planner_plugins.propose import SizingSettings, ThroughputPropose
from planner_plugins.propose.burstiness import PEAK_WINDOWS, PEAK_Z, Burstiness
from planner_plugins.traces import poisson_trace

TTFT_MS, ITL_MS = 250.0, 15.0  # the conversation mix's tight targets
PEAK = 60.0  # requests/s while a burst is on


def test_the_peak_is_unknown_before_a_counted_window() -> None:
    reading = Burstiness()
    reading.observe(3.0, 60.0)
    assert reading.peak_rate is None


def test_poisson_windows_peak_at_peak_z_deviations_of_their_slices() -> None:
    reading = Burstiness()
    reading.observe(1.0, 60.0, 600.0)  # 10 a second: 100 a slice, give or take 10
    assert reading.peak_rate == 10.0 + PEAK_Z * math.sqrt(10.0 / 10.0)


def test_dispersed_slices_peak_higher() -> None:
    calm, dispersed = Burstiness(), Burstiness()
    calm.observe(1.0, 60.0, 600.0)
    dispersed.observe(9.0, 60.0, 600.0)
    assert dispersed.peak_rate == 10.0 + PEAK_Z * math.sqrt(9.0 * 10.0 / 10.0)
    assert calm.peak_rate is not None
    assert dispersed.peak_rate > calm.peak_rate


def test_the_peak_is_forgotten_once_its_window_leaves_the_memory() -> None:
    reading = Burstiness()
    reading.observe(50.0, 60.0, 2400.0)
    for _ in range(PEAK_WINDOWS - 1):
        reading.observe(1.0, 60.0, 600.0)
    assert reading.peak_rate is not None
    assert reading.peak_rate > 40.0
    reading.observe(1.0, 60.0, 600.0)
    assert reading.peak_rate == 10.0 + PEAK_Z


def bursts_of_chat() -> list[tuple[float, float]]:
    """45 s at PEAK a second every 7.5 min, a tenth of it between: each minute's (dispersion, count)
    as the frontend reads them."""
    shape = on_off(45.0, 450.0, 10.0)
    trace = poisson_trace("bursts", lambda t: PEAK * shape(t), PEAK, 900.0, isl=1100, osl=250, length_cv=0.5, seed=2)
    cluster = SimCluster(PERF, trace.requests, {P: 2, D: 4}, SimSettings())
    cluster.advance_to(900.0)
    frontend, readings = FrontendWindow(cluster), []
    for k in range(15):
        traffic = frontend.traffic(60.0 * k, 60.0 * (k + 1))
        assert traffic.arrival_dispersion is not None
        assert traffic.num_requests is not None
        readings.append((traffic.arrival_dispersion, traffic.num_requests))
    return readings


def proposer_after(readings: list[tuple[float, float]]) -> ThroughputPropose:
    settings = SizingSettings(interval_s=60, ttft_ms=TTFT_MS, itl_ms=ITL_MS, min_endpoint={P: 1, D: 1})
    plugin = ThroughputPropose(PERF, settings, (P, D), floor=False)
    for dispersion, count in readings:
        plugin.arrivals.observe(dispersion, 60.0, count)
    return plugin


def test_bursts_that_swing_a_window_between_two_levels_are_sized_for_their_busiest_slice() -> None:
    readings = bursts_of_chat()
    plugin = proposer_after(readings)
    assert plugin.burstiness > 20.0  # the swings read as bunching
    count = max(count for _, count in readings)
    as_bunching = plugin._queue_aware(count / 60.0, plugin._mix(1100, 250), 1.0)
    sized = plugin.size(count, 1100, 250)
    assert sized[P] < as_bunching[P]  # 4P where bunching read 16P
    assert sized[D] <= as_bunching[D]


def test_the_fleet_sized_for_the_busiest_slice_serves_the_bursts() -> None:
    readings = bursts_of_chat()
    sized = proposer_after(readings).size(max(count for _, count in readings), 1100, 250)
    shape = on_off(45.0, 450.0, 10.0)
    trace = poisson_trace("bursts", lambda t: PEAK * shape(t), PEAK, 900.0, isl=1100, osl=250, length_cv=0.5, seed=3)
    cluster = SimCluster(PERF, trace.requests, {P: sized[P], D: sized[D]}, SimSettings())
    cluster.run_until_drained()
    assert cluster.score(TTFT_MS, ITL_MS).sla_attainment >= 0.99


def test_poisson_arrivals_are_sized_as_before() -> None:
    plugin = proposer_after([(1.0, 1200.0)] * 10)
    assert plugin.burstiness == 1.0
    assert plugin.size(1200, 1100, 250) == plugin._queue_aware(20.0, plugin._mix(1100, 250), 1.0)
