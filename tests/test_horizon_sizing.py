"""Sizing for when a decision takes effect, for a quantile of requests: the model, the horizon, the forecasts."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from helpers import finished_requests
from planner.config import PlannerConfig
from planner.pipeline.predict import fill_predictions
from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.signals import FrontendWindow
from planner.sim.world import load_perf
from planner_plugins.predict.predictors import (
    DriftPredictor,
    EnsemblePredictor,
    KalmanPredictor,
    SeasonalMeanPredictor,
    damped_steps,
    detect_period,
)
from planner_plugins.propose import SizingSettings, ThroughputPropose
from planner_plugins.propose.burstiness import Burstiness, excess_dispersion
from planner_plugins.propose.forecast_errors import MIN_MISSES, UNPROVEN_MISS, ForecastErrors
from planner_plugins.propose.sizing import LengthMix, decode_itl_quantile_ms, prefill_ttft_quantile_ms
from planner_plugins.propose.startup import StartupEstimate
from planner_plugins.traces import poisson_trace
from planner_sdk import Observations, PlannerView, Predictions, ReplicaCount, Role, TickContext, TrafficObservation

P, D = Role.PREFILL, Role.DECODE
PERF = load_perf(PlannerConfig())
Z99 = 2.326
TRANSFER = SimSettings().kv_transfer_ms_per_1k_tokens / 1000  # ms per prompt token, as simulated


def simulated_p99(isl: float, osl: float, rate: float, prefill: int, decode: int) -> tuple[float, float]:
    trace = poisson_trace("steady", lambda t: rate, rate, 300, isl=isl, osl=osl, length_cv=0.5, seed=1)
    cluster = SimCluster(PERF, trace.requests, {P: prefill, D: decode}, SimSettings())
    finished = finished_requests(cluster)
    cluster.run_until_drained()
    ttfts = sorted(r.ttft_s for r in finished)
    itls = sorted(r.itl_s for r in finished if r.osl > 1)
    return ttfts[int(0.99 * len(ttfts))] * 1000, itls[int(0.99 * len(itls))] * 1000


@pytest.mark.parametrize(
    ("isl", "osl", "rate", "engines"),
    [(8000, 200, 24, 6), (8000, 200, 6, 3), (1100, 250, 60, 3), (16000, 120, 5, 3), (300, 800, 16, 3)],
)
def test_the_quantile_model_is_within_a_quarter_of_the_simulated_p99(
    isl: int, osl: int, rate: float, engines: int
) -> None:
    ttft, itl = simulated_p99(isl, osl, rate, engines, engines)
    mix = LengthMix(isl, osl, 0.5, 0.5)
    assert prefill_ttft_quantile_ms(PERF, rate, mix, engines, Z99, TRANSFER) == pytest.approx(ttft, rel=0.25)
    assert decode_itl_quantile_ms(PERF, rate, mix, engines, Z99) == pytest.approx(itl, rel=0.25)


@pytest.mark.parametrize(("isl", "osl", "rate", "engines"), [(300, 800, 16, 2), (1100, 250, 60, 3)])
def test_the_batch_holds_long_outputs_longer_so_the_median_itl_counts_them_more(
    isl: int, osl: int, rate: float, engines: int
) -> None:
    # Read at the arrivals' mean output, the 800-token case came out at 12 ms against 22 ms simulated.
    trace = poisson_trace("steady", lambda t: rate, rate, 300, isl=isl, osl=osl, length_cv=1.0, seed=1)
    cluster = SimCluster(PERF, trace.requests, {P: 8, D: engines}, SimSettings())
    finished = finished_requests(cluster)
    cluster.run_until_drained()
    itls = sorted(r.itl_s for r in finished if r.osl > 1)
    mix = LengthMix(isl, osl, 1.0, 1.0)
    assert decode_itl_quantile_ms(PERF, rate, mix, engines, 0.0) == pytest.approx(itls[len(itls) // 2] * 1000, rel=0.1)


@pytest.mark.parametrize(("isl", "rate", "engines"), [(8000, 21, 4), (16000, 3, 2)])
def test_near_saturation_long_prompts_queue_at_their_own_lengths_speed(isl: int, rate: float, engines: int) -> None:
    # At the profile's peak speed (reached near 7k tokens) the 8k case read a third below the simulation.
    ttft, _ = simulated_p99(isl, 150, rate, engines, 8)
    mix = LengthMix(isl, 150, 0.5, 0.5)
    assert prefill_ttft_quantile_ms(PERF, rate, mix, engines, Z99, TRANSFER) == pytest.approx(ttft, rel=0.25)


def test_more_load_than_the_engines_can_prefill_is_an_infinite_ttft() -> None:
    assert prefill_ttft_quantile_ms(PERF, 24, LengthMix(8000, 200), 3, Z99) == math.inf


def test_bursty_arrivals_need_more_prefill_than_poisson_ones() -> None:
    poisson, bursty = LengthMix(8000, 200, 0.5, 0.5), LengthMix(8000, 200, 0.5, 0.5, burstiness=5.0)
    assert prefill_ttft_quantile_ms(PERF, 12, bursty, 4, Z99) > prefill_ttft_quantile_ms(PERF, 12, poisson, 4, Z99)


def view() -> PlannerView:
    return PlannerView("disagg", (P, D), "sla", 1000, 25, -1, {P: 1, D: 1}, {P: 1, D: 1}, {})


def tick(path: tuple[float, ...], prefill: int, now: float = 0.0) -> TickContext:
    return TickContext(
        tick_id=1, decision_id=1, now=now, planner=view(),
        replicas={P: ReplicaCount(prefill, prefill), D: ReplicaCount(2, 2)},
        predictions=Predictions(path[0], 8000, 200, num_requests_ahead=path),
    )  # fmt: skip


def proposer(startup_s: float = 120.0) -> ThroughputPropose:
    settings = SizingSettings(interval_s=60, ttft_ms=1000, itl_ms=25, min_endpoint={P: 1, D: 1}, startup_s=startup_s)
    return ThroughputPropose(PERF, settings, (P, D), floor=False)


def prefill_target(plugin: ThroughputPropose, ctx: TickContext) -> int:
    return {t.role: t.replicas for t in plugin.propose(ctx).targets}[P]


def test_a_decision_covers_the_intervals_from_one_start_up_ahead_to_the_next_decisions() -> None:
    assert proposer(120).horizon() == (3, 3)
    assert proposer(90).horizon() == (2, 3)
    assert proposer(0).horizon() == (1, 1)


def test_a_rise_forecast_beyond_the_start_up_is_provisioned_now() -> None:
    flat, rising = (60.0, 60.0, 60.0), (60.0, 60.0, 1200.0)
    assert prefill_target(proposer(), tick(rising, 1)) > prefill_target(proposer(), tick(flat, 1))


def test_an_engine_needed_again_before_a_new_one_could_start_is_not_shed() -> None:
    dip = (60.0, 1200.0, 1200.0)  # quiet for one interval, busy again within the start-up
    assert prefill_target(proposer(), tick(dip, 6)) == prefill_target(proposer(), tick((1200.0,) * 3, 6))


def test_load_that_has_passed_by_the_time_new_engines_serve_does_not_start_them() -> None:
    spike_now, flat = (1200.0, 60.0, 60.0), (60.0, 60.0, 60.0)
    assert prefill_target(proposer(), tick(spike_now, 1)) == prefill_target(proposer(), tick(flat, 1))


def test_the_stabilisation_window_holds_engines_but_does_not_ask_again_for_a_target_cut_short() -> None:
    plugin = proposer()
    spike = prefill_target(plugin, tick((4000.0,) * 3, 2, now=0.0))
    assert spike > 10
    # The change cap let 10 of them start; the forecasts have since fallen back.
    assert prefill_target(plugin, tick((60.0,) * 3, 10, now=60.0)) == 10


def observed_tick(
    path: tuple[float, ...], count: float, now: float, dispersion: float | None = 1.0, prefill: int = 2
) -> TickContext:
    traffic = TrafficObservation(60.0, count, 8000, 200, arrival_dispersion=dispersion)
    return dataclasses.replace(tick(path, prefill, now), observations=Observations(traffic=traffic))


def minutes_to_shed_after_a_drop(forecast_while_busy: float, dispersion: float | None = 1.0) -> int:
    """Ticks after a drop from 1200 to 60 requests a minute until prefill is shed, after twelve
    busy minutes whose counts were forecast at `forecast_while_busy` (long enough for the margin
    of the first, unproven forecasts to have lapsed)."""
    plugin = proposer()
    fleet = 2  # the deployment follows the targets
    for minute in range(12):
        fleet = prefill_target(
            plugin, observed_tick((forecast_while_busy,) * 3, 1200.0, 60.0 * minute, dispersion, fleet)
        )
    busy = fleet
    for minute in range(12, 20):
        fleet = prefill_target(plugin, observed_tick((60.0,) * 3, 60.0, 60.0 * minute, dispersion, fleet))
        if fleet < busy:
            return minute - 12
    raise AssertionError("never shed")


def test_once_forecasts_come_true_an_engine_is_shed_an_interval_after_it_is_last_needed() -> None:
    assert minutes_to_shed_after_a_drop(forecast_while_busy=1200.0) == 1


def test_without_a_dispersion_reading_an_engine_is_held_a_start_up_and_an_interval_however_good_the_forecasts() -> None:
    assert minutes_to_shed_after_a_drop(forecast_while_busy=1200.0, dispersion=None) == 3


def test_while_forecasts_miss_an_engine_is_held_a_start_up_and_an_interval_after_it_is_last_needed() -> None:
    assert minutes_to_shed_after_a_drop(forecast_while_busy=600.0) == 3


def test_the_start_up_is_refined_from_observed_starts() -> None:
    estimate = StartupEstimate(120.0)
    estimate.asked(P, 0.0)
    estimate.update(60.0, {P: ReplicaCount(ready=1, expected=2)})
    estimate.update(240.0, {P: ReplicaCount(ready=2, expected=2)})
    assert estimate.seconds == pytest.approx(150.0)  # somewhere after 60 s and by 240 s


def test_a_start_is_timed_between_the_last_tick_that_saw_it_starting_and_the_first_that_saw_it_ready() -> None:
    estimate = StartupEstimate(300.0)
    estimate.asked(P, 0.0)
    for now in (60.0, 120.0):
        estimate.update(now, {P: ReplicaCount(ready=1, expected=2)})
    estimate.update(180.0, {P: ReplicaCount(ready=2, expected=2)})
    assert estimate.seconds == pytest.approx(150.0)


def test_a_known_start_up_is_not_relearnt() -> None:
    estimate = StartupEstimate(120.0, refine=False)
    estimate.asked(P, 0.0)
    estimate.update(60.0, {P: ReplicaCount(ready=1, expected=2)})
    estimate.update(240.0, {P: ReplicaCount(ready=2, expected=2)})
    assert estimate.seconds == 120.0


def test_only_an_unset_start_up_on_a_real_deployment_is_learnt() -> None:
    assert PlannerConfig().effective()["refine_engine_startup"] is False  # the simulator's is known
    assert PlannerConfig(environment="virtual").effective()["refine_engine_startup"] is True
    assert (
        PlannerConfig(environment="virtual", engine_startup_seconds=300).effective()["refine_engine_startup"] is False
    )


def test_a_start_that_was_never_applied_is_not_timed() -> None:
    estimate = StartupEstimate(120.0)
    estimate.asked(P, 0.0)
    estimate.update(60.0, {P: ReplicaCount(ready=1, expected=1)})  # cut by safety, or advisory
    assert estimate.seconds == 120.0
    assert estimate.observed == 0


def test_forecast_misses_at_the_horizon_become_a_margin() -> None:
    errors = ForecastErrors(60.0, quantile=0.9)
    for tick in range(12):
        errors.remember(60.0 * tick, [100.0, 100.0, 100.0])
        errors.observe(60.0 * (tick + 1), 160.0, first=1, last=3)  # the load keeps coming in 60 over the forecast
    assert errors.margin() == pytest.approx(60.0 - 1.28 * 10.0)  # less a forecast of 100's Poisson noise


def step_then_right_forecasts(errors: ForecastErrors) -> None:
    """Three intervals 500 above the forecast (a step the forecasts had not seen), then eight on it."""
    for tick in range(11):
        errors.remember(60.0 * tick, [100.0])
        errors.observe(60.0 * (tick + 1), 600.0 if tick < 3 else 100.0, first=1, last=1)


def test_on_smooth_traffic_a_step_the_forecasts_absorbed_stops_costing_a_margin() -> None:
    errors = ForecastErrors(60.0)
    step_then_right_forecasts(errors)
    assert errors.margin(burstiness=1.0) == 0.0  # the last six forecasts were right


def test_on_bursty_traffic_past_misses_keep_their_margin() -> None:
    errors = ForecastErrors(60.0)
    step_then_right_forecasts(errors)
    assert errors.margin(burstiness=3.0) == pytest.approx(500.0 - 1.28 * 10.0)  # bursts come back
    assert 0.0 < errors.margin(burstiness=1.5) < errors.margin(burstiness=3.0)


def test_on_bursty_traffic_a_burst_is_remembered_for_twenty_four_intervals() -> None:
    errors = ForecastErrors(60.0)
    for tick in range(21):  # a burst three intervals long, then eighteen right forecasts
        errors.remember(60.0 * tick, [100.0])
        errors.observe(60.0 * (tick + 1), 600.0 if tick < 3 else 100.0, first=1, last=1)
    assert errors.margin(burstiness=3.0) == pytest.approx(500.0 - 1.28 * 10.0)


def test_a_forecast_that_came_true_within_poisson_noise_needs_no_margin() -> None:
    errors = ForecastErrors(60.0)
    for tick in range(12):
        errors.remember(60.0 * tick, [100.0])
        errors.observe(60.0 * (tick + 1), 110.0, first=1, last=1)
    assert errors.margin() == 0.0


def test_before_any_forecast_comes_due_a_rising_load_is_sized_for_its_rise_over_the_horizon() -> None:
    errors = ForecastErrors(60.0)
    errors.observe(60.0, 100.0, first=3, last=3)
    errors.observe(120.0, 150.0, first=3, last=3)  # up 50 in an interval: 150 over a start-up's horizon
    assert errors.margin() == pytest.approx(3 * (50.0 - 1.28 * math.sqrt(2 * 100.0)))  # less the counts' noise


def test_before_any_forecast_comes_due_a_forecast_that_already_rises_takes_its_rise_off_the_margin() -> None:
    errors = ForecastErrors(60.0)
    errors.observe(60.0, 100.0, first=3, last=3)
    errors.observe(120.0, 150.0, first=3, last=3)
    flat_forecasts_margin = 3 * (50.0 - 1.28 * math.sqrt(2 * 100.0))
    assert errors.margin(forecast_rise=30.0) == pytest.approx(flat_forecasts_margin - 30.0)


def test_before_any_forecast_comes_due_a_load_that_jumped_is_at_most_doubled() -> None:
    errors = ForecastErrors(60.0)
    errors.observe(60.0, 100.0, first=3, last=3)
    errors.observe(120.0, 400.0, first=3, last=3)  # as likely a burst as a trend three times as steep
    assert errors.margin() == 400.0


def test_before_any_forecast_comes_due_a_load_within_poisson_noise_gets_the_unproven_forecasts_margin() -> None:
    errors = ForecastErrors(60.0)
    for tick, count in enumerate((100.0, 108.0, 95.0, 103.0)):
        errors.observe(60.0 * (tick + 1), count, first=3, last=3)
    assert errors.margin() == pytest.approx(UNPROVEN_MISS * 103.0)


def test_the_unproven_forecasts_margin_lapses_once_forecasts_come_due_and_come_true() -> None:
    errors = ForecastErrors(60.0)
    for tick in range(MIN_MISSES + 1):
        errors.remember(60.0 * tick, [100.0])
        errors.observe(60.0 * tick, 100.0, first=1, last=1)
    assert errors.margin() == 0.0


def test_once_forecasts_come_due_their_misses_replace_the_counts_rise() -> None:
    errors = ForecastErrors(60.0)
    for tick in range(8):
        errors.remember(60.0 * tick, [100.0 * (tick + 1)])
        errors.observe(60.0 * (tick + 1), 100.0 * (tick + 1), first=1, last=1)  # rising, and forecast right
    assert errors.margin() == 0.0


def test_a_missed_tick_does_not_shift_which_forecast_an_interval_is_held_against() -> None:
    errors = ForecastErrors(60.0)
    for tick in range(18):
        if tick % 3 == 2:
            continue  # no observation this tick: nothing remembered, nothing observed
        errors.remember(60.0 * tick, [100.0 + tick, 500.0])  # the path is right one interval on
        errors.observe(60.0 * tick, 100.0 + tick - 1, first=1, last=1)
    assert errors.margin() == 0.0


def test_trend_forecasters_extrapolate_several_steps() -> None:
    drift, kalman = DriftPredictor(2), KalmanPredictor(min_points=3)
    for value in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0):
        drift.observe(value)
        kalman.observe(value)
    damped = [60.0 + 10.0 * damped_steps(h) for h in (1, 2, 3)]  # 69, 77.1, 84.4
    assert drift.forecast_ahead(3) == pytest.approx(damped)
    assert kalman.forecast_ahead(3) == pytest.approx(damped, rel=0.05)


def test_a_period_is_found_only_when_the_series_repeats() -> None:
    assert detect_period([10 + 8 * math.sin(2 * math.pi * i / 5) for i in range(20)]) == 5
    assert detect_period([float(i) for i in range(30)]) is None
    assert detect_period([5.0] * 30) is None


def test_the_seasonal_member_repeats_the_last_cycle_ahead() -> None:
    seasonal = SeasonalMeanPredictor()
    cycle = [1.0, 5.0, 9.0, 5.0]
    for value in cycle * 4:
        seasonal.observe(value)
    assert seasonal.period == 4
    assert seasonal.forecast_ahead(6) == [1.0, 5.0, 9.0, 5.0, 1.0, 5.0]


def seasonal_after_four_cycles(cycles: int) -> SeasonalMeanPredictor:
    seasonal = SeasonalMeanPredictor(cycles=cycles)
    for level in (0.0, 0.3, 0.6, 0.9):  # one cycle at four levels, as noise would move it
        for value in (1.0, 5.0, 9.0, 5.0):
            seasonal.observe(value + level)
    return seasonal


def test_the_seasonal_member_averages_each_phase_over_the_last_cycles() -> None:
    seasonal = seasonal_after_four_cycles(cycles=3)
    assert seasonal.period == 4
    assert seasonal.forecast_ahead(5) == pytest.approx([1.6, 5.6, 9.6, 5.6, 1.6])  # the first cycle is too old


def test_the_seasonal_member_averages_as_many_cycles_as_the_history_holds() -> None:
    assert seasonal_after_four_cycles(cycles=10).forecast_ahead(1) == pytest.approx([1.45])


def test_the_ensemble_blends_its_members_paths() -> None:
    ensemble = EnsemblePredictor([DriftPredictor(1, damping=1.0), SeasonalMeanPredictor()])
    for value in (1.0, 2.0, 3.0):
        ensemble.observe(value)
    assert ensemble.forecast_ahead(2) == [4.0, 5.0]  # the seasonal member sits out: no period yet


def test_a_path_ahead_is_taken_only_with_the_count_it_starts_from() -> None:
    mine = Predictions(num_requests=50.0)
    offered = Predictions(num_requests=10.0, isl=900.0, num_requests_ahead=(10.0, 20.0))
    merged = fill_predictions(mine, offered)
    assert merged.num_requests == 50.0
    assert merged.num_requests_ahead is None
    assert merged.isl == 900.0
    assert merged.requests_ahead(3) == [50.0, 50.0, 50.0]


def test_poisson_arrivals_read_in_few_slices_are_not_taken_for_bursts() -> None:
    # A 60 s window holds six 10 s slices (four degrees of freedom): Poisson reads up to ~1.9 by chance.
    assert excess_dispersion(1.9, 60.0) <= 1.0
    assert excess_dispersion(8.0, 60.0) > 6.5  # a real burst still counts, less the noise
    assert excess_dispersion(1.3, 600.0) > excess_dispersion(1.3, 60.0)  # more slices, less noise


def test_an_hour_of_poisson_windows_reads_as_poisson() -> None:
    # Each 60 s window's dispersion is chi-square(4) / 4: over an hour some read 2.5 to 3.5 by chance.
    # Remembering the largest such reading sized Poisson traffic for bursts it never had.
    rng = random.Random(7)
    reading = Burstiness()
    highest = 1.0
    for _ in range(60):
        reading.observe(rng.gammavariate(2.0, 0.5), 60.0)  # chi-square(4) / 4
        highest = max(highest, reading.value)
    assert highest < 1.2


def test_traffic_bursty_window_after_window_reads_bursty() -> None:
    reading = Burstiness()
    for dispersion in (2.5, 3.0, 2.2, 2.8, 2.6, 3.1):  # none alone beyond Poisson's 1-in-1000
        reading.observe(dispersion, 60.0)
    assert reading.value > 1.8


def test_one_strong_burst_is_remembered_and_fades() -> None:
    reading = Burstiness()
    reading.observe(12.0, 60.0)
    after_burst = reading.value
    assert after_burst > 8.0
    for _ in range(10):
        reading.observe(1.0, 60.0)
    assert 1.0 < reading.value < after_burst / 2


def busy_window(dispersion: float, isl_cv: float = 0.3) -> TickContext:
    traffic = TrafficObservation(window_seconds=60, num_requests=600, mean_isl=8000, mean_osl=200,
                                 isl_cv=isl_cv, osl_cv=isl_cv, arrival_dispersion=dispersion)  # fmt: skip
    return dataclasses.replace(tick((600.0,) * 3, 4), observations=Observations(traffic=traffic))


def test_noisy_dispersion_of_poisson_traffic_leaves_burstiness_at_one() -> None:
    plugin = proposer()
    for dispersion in (0.3, 1.7, 0.8, 1.9, 1.2):
        plugin.propose(busy_window(dispersion))
    assert plugin.burstiness == 1.0


def test_the_first_busy_window_replaces_the_guessed_length_spread() -> None:
    plugin = proposer()
    plugin.propose(busy_window(1.0, isl_cv=0.3))
    assert plugin.isl_cv == pytest.approx(0.3)
    plugin.propose(busy_window(1.0, isl_cv=0.5))
    assert plugin.isl_cv == pytest.approx(0.4)  # later windows blend


def test_a_simulated_frontend_read_as_prometheus_reads_it_reports_no_dispersion() -> None:
    trace = poisson_trace("steady", lambda t: 20.0, 20.0, 120, isl=1000, osl=100, seed=1)
    cluster = SimCluster(PERF, trace.requests, {P: 2, D: 2}, SimSettings())
    cluster.advance_to(120.0)
    assert FrontendWindow(cluster).traffic(0.0, 120.0).arrival_dispersion is not None
    assert FrontendWindow(cluster, dispersion=False).traffic(0.0, 120.0).arrival_dispersion is None
