"""Bursty arrivals get no more than their busiest slice needs as Poisson arrivals: dispersion is not counted twice."""

from __future__ import annotations

import math

import pytest
from test_horizon_sizing import PERF, D, P

from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.scenarios import on_off
from planner.sim.signals import FrontendWindow
from planner_plugins.propose import SizingSettings, ThroughputPropose
from planner_plugins.propose.burstiness import (
    PEAK_WINDOWS,
    PEAK_Z,
    POOLED_Z,
    Burstiness,
    poisson_dispersion_quantile,
)
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


Reading = tuple[float, float, float | None, float | None]  # (dispersion, count, busiest slice, within slices)


def bursts_of_chat() -> list[Reading]:
    """45 s at PEAK a second every 7.5 min, a tenth of it between: each minute's readings as the
    frontend reports them."""
    shape = on_off(45.0, 450.0, 10.0)
    trace = poisson_trace("bursts", lambda t: PEAK * shape(t), PEAK, 900.0, isl=1100, osl=250, length_cv=0.5, seed=2)
    cluster = SimCluster(PERF, trace.requests, {P: 2, D: 4}, SimSettings())
    cluster.advance_to(900.0)
    frontend, readings = FrontendWindow(cluster), []
    for k in range(15):
        traffic = frontend.traffic(60.0 * k, 60.0 * (k + 1))
        assert traffic.arrival_dispersion is not None
        assert traffic.num_requests is not None
        readings.append((traffic.arrival_dispersion, traffic.num_requests, traffic.busiest_slice_requests,
                         traffic.within_slice_dispersion))  # fmt: skip
    return readings


def without_slices(readings: list[Reading]) -> list[Reading]:
    """The readings of a frontend that reports the dispersion alone."""
    return [(dispersion, count, None, None) for dispersion, count, _, _ in readings]


def proposer_after(readings: list[Reading]) -> ThroughputPropose:
    settings = SizingSettings(interval_s=60, ttft_ms=TTFT_MS, itl_ms=ITL_MS, min_endpoint={P: 1, D: 1})
    plugin = ThroughputPropose(PERF, settings, (P, D), floor=False)
    for dispersion, count, busiest, within in readings:
        plugin.arrivals.observe(dispersion, 60.0, count, busiest, within)
    return plugin


def test_bursts_that_swing_a_window_between_two_levels_are_sized_for_their_busiest_slice() -> None:
    readings = without_slices(bursts_of_chat())
    plugin = proposer_after(readings)
    assert plugin.burstiness > 20.0  # the swings read as bunching
    count = max(count for _, count, _, _ in readings)
    as_bunching = plugin._queue_aware(count / 60.0, plugin._mix(1100, 250), 1.0)
    sized = plugin.size(count, 1100, 250)
    assert sized[P] < as_bunching[P]  # 4P where bunching read 16P
    assert sized[D] <= as_bunching[D]


def test_the_fleet_sized_for_the_busiest_slice_serves_the_bursts() -> None:
    readings = bursts_of_chat()
    sized = proposer_after(readings).size(max(count for _, count, _, _ in readings), 1100, 250)
    shape = on_off(45.0, 450.0, 10.0)
    trace = poisson_trace("bursts", lambda t: PEAK * shape(t), PEAK, 900.0, isl=1100, osl=250, length_cv=0.5, seed=3)
    cluster = SimCluster(PERF, trace.requests, {P: sized[P], D: sized[D]}, SimSettings())
    cluster.run_until_drained()
    assert cluster.score(TTFT_MS, ITL_MS).sla_attainment >= 0.99


def test_poisson_arrivals_are_sized_as_before() -> None:
    plugin = proposer_after([(1.0, 1200.0, None, None)] * 10)
    assert plugin.burstiness == 1.0
    assert plugin.size(1200, 1100, 250) == plugin._queue_aware(20.0, plugin._mix(1100, 250), 1.0)


def test_the_frontend_counts_the_busiest_slice_and_poisson_bunching_within_slices() -> None:
    readings = bursts_of_chat()
    busiest = [b for _, _, b, _ in readings if b is not None]
    within = [w for _, _, _, w in readings if w is not None]
    assert len(busiest) == len(within) == len(readings)
    # A burst's slice holds PEAK a second for 10 s, give or take its Poisson noise; within slices the
    # arrivals are Poisson at either level, so their bunching reads about 1 however far the levels differ.
    assert abs(max(busiest) - PEAK * 10) < 4 * math.sqrt(PEAK * 10)
    assert 0.5 < sum(within) / len(within) < 1.5


def test_a_window_holding_two_levels_peaks_at_its_busiest_slice_where_the_frontend_counts_it() -> None:
    by_dispersion, by_slice = Burstiness(), Burstiness()
    by_dispersion.observe(90.0, 60.0, 1959.0)  # a burst starting within the window
    by_slice.observe(90.0, 60.0, 1959.0, busiest=625.0, within=1.0)
    assert by_dispersion.peak_rate is not None
    assert by_dispersion.peak_rate > 110.0
    assert by_slice.peak_rate == 62.5


def test_bunching_within_slices_raises_the_peak_above_the_busiest_slice() -> None:
    reading = Burstiness()
    reading.observe(3.0, 60.0, 1000.0, busiest=150.0, within=3.0)
    # Six slices of five 2 s counts: 24 degrees of freedom, whose Poisson noise is discounted.
    beyond_poisson = 3.0 - poisson_dispersion_quantile(24.0, POOLED_Z)
    assert reading.peak_rate == (150.0 + PEAK_Z * math.sqrt(beyond_poisson * 150.0)) / 10.0


def test_the_busiest_slice_never_reads_above_the_dispersions_peak() -> None:
    reading = Burstiness()
    reading.observe(1.0, 60.0, 600.0, busiest=400.0, within=1.0)  # a busiest slice no Poisson window shows
    assert reading.peak_rate == 10.0 + PEAK_Z * math.sqrt(10.0 / 10.0)


def test_bursts_read_with_their_busiest_slice_get_no_more_than_it_needs() -> None:
    readings = bursts_of_chat()
    count = max(count for _, count, _, _ in readings)
    by_dispersion = proposer_after(without_slices(readings)).size(count, 1100, 250)
    by_slice = proposer_after(readings).size(count, 1100, 250)
    assert by_slice[P] < by_dispersion[P]  # 3P 4D where five deviations of the swings read 4P 7D
    assert by_slice[D] < by_dispersion[D]


def test_the_hysteresis_does_not_tighten_what_the_busiest_slice_needs() -> None:
    plugin = proposer_after(bursts_of_chat())
    count = max(count for _, count, _, _ in bursts_of_chat())
    assert plugin.size(count, 1100, 250, tighten=0.9) == plugin.size(count, 1100, 250)


def test_on_bursty_arrivals_the_margin_lifts_the_forecast_no_higher_than_the_busiest_slice() -> None:
    plugin = proposer_after(bursts_of_chat())
    plugin.margin = 5000.0
    assert plugin.arrivals.peak_rate is not None
    busiest = plugin.arrivals.peak_rate * 60.0
    assert 3000.0 < busiest < 5000.0
    # A forecast beyond the busiest slice is the forecast's to make: the margin adds nothing to it.
    assert plugin._margined([300.0, 2000.0, 6000.0]) == pytest.approx([busiest, busiest, 6000.0])


def test_on_poisson_arrivals_the_busiest_slice_does_not_bound_the_margin() -> None:
    plugin = proposer_after([(1.0, 1200.0, 220.0, 1.0)] * 10)
    plugin.margin = 5000.0
    assert plugin._margined([1200.0]) == [6200.0]  # forecasts not yet proven keep their whole margin


def test_poisson_noise_in_the_bunching_within_slices_adds_nothing_to_the_busiest_slice() -> None:
    reading = Burstiness()
    for _ in range(10):
        reading.observe(1.0, 60.0, 3600.0, busiest=640.0, within=1.1)  # Poisson slices read 1.1 by chance
    assert reading.peak_rate == 64.0
