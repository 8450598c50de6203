"""New levels and the misses before them: a step sized for at once on smooth arrivals, and not paid twice."""

from __future__ import annotations

import pytest
from test_horizon_sizing import observed_tick, prefill_target, proposer, tick

from planner_plugins.propose import ThroughputPropose
from planner_plugins.propose.forecast_errors import UNPROVEN_MISS, ForecastErrors
from planner_sdk import TickContext


def after_a_jump(path: tuple[float, ...], forecast_before: float = 300.0, dispersion: float | None = 1.0) -> int:
    """Prefill asked for once the count jumped from 300 to 1200, given the forecasts made before and now."""
    return prefill_target(*jumped(path, forecast_before, dispersion))


def jumped(
    path: tuple[float, ...], forecast_before: float = 300.0, dispersion: float | None = 1.0
) -> tuple[ThroughputPropose, TickContext]:
    """A proposer that saw 300 requests a minute, and the tick at which the count jumped to 1200."""
    plugin = proposer()
    plugin.propose(observed_tick((forecast_before,) * 3, 300.0, 0.0, dispersion))
    return plugin, observed_tick(path, 1200.0, 60.0, dispersion)


def load_sized_after_a_jump(path: tuple[float, ...], dispersion: float) -> float:
    """The load (requests a minute) the fleet asked for once the count jumped is sized for."""
    plugin, ctx = jumped(path, dispersion=dispersion)
    plugin.propose(ctx)
    assert plugin.planned is not None
    return plugin.planned[1]


def test_on_smooth_traffic_a_count_far_beyond_its_forecast_is_sized_as_a_new_level() -> None:
    lagging = (700.0,) * 3  # averaging forecasters trust a new level late
    # Sized as the new level with no margin but the one forecasts get before any has come due.
    at_the_new_level = (1200.0 * (1 + UNPROVEN_MISS),) * 3
    assert after_a_jump(lagging) == prefill_target(proposer(), tick(at_the_new_level, 2))


def test_on_bursty_traffic_a_count_beyond_its_forecast_is_left_to_the_forecasts() -> None:
    # (The fleets both loads ask for are bounded by the busiest slice the windows showed: see test_burst_ceiling.)
    lagging, at_the_new_level = (700.0,) * 3, (1200.0,) * 3
    assert load_sized_after_a_jump(lagging, 5.0) < load_sized_after_a_jump(at_the_new_level, 5.0)


def test_without_a_dispersion_reading_a_count_far_beyond_its_forecast_is_still_sized_as_a_new_level() -> None:
    # Unread arrivals err towards capacity both ways: up at once, down slowly, misses kept.
    assert after_a_jump((700.0,) * 3, dispersion=None) >= prefill_target(proposer(), tick((1200.0,) * 3, 2))


def test_a_count_that_was_forecast_is_not_a_new_level() -> None:
    # A burst the seasonal forecast saw coming ends as forecast: its count does not hold the path up.
    def after_a_burst(forecast_for_it: float) -> int:
        plugin = proposer()
        for minute in range(10):
            plugin.propose(
                observed_tick((forecast_for_it if minute == 9 else 300.0, 300.0, 300.0), 300.0, 60.0 * minute)
            )
        return prefill_target(plugin, observed_tick((300.0,) * 3, 1200.0, 600.0))

    assert after_a_burst(forecast_for_it=1200.0) < after_a_burst(forecast_for_it=300.0)


def margin_after_a_step(dispersion: float) -> float:
    """The margin for forecast misses three minutes after a step from 300 to 1200 requests a
    minute that no forecast saw, the forecasts right before it and since."""
    plugin = proposer()
    for minute in range(6):
        plugin.propose(observed_tick((300.0,) * 3, 300.0, 60.0 * minute, dispersion))
    plugin.propose(observed_tick((700.0,) * 3, 1200.0, 360.0, dispersion))  # averaging forecasters lag it
    for minute in range(7, 10):
        plugin.propose(observed_tick((1200.0,) * 3, 1200.0, 60.0 * minute, dispersion))
    return plugin.errors.margin(plugin.burstiness)


def test_on_smooth_traffic_the_misses_before_a_new_level_cost_no_margin_after_it() -> None:
    # The new level is sized for as such: the misses of forecasts that could not have seen it, counted
    # again as a margin, held 6P where 4P served a fourfold step.
    assert margin_after_a_step(dispersion=1.0) == 0.0


def test_on_bursty_traffic_the_misses_before_a_jump_keep_their_margin() -> None:
    assert margin_after_a_step(dispersion=30.0) == pytest.approx(900.0 - 1.28 * 300.0**0.5)  # bursts come back


def test_a_turn_above_forecasts_of_a_fall_keeps_their_misses_as_a_margin() -> None:
    # At a trough the trend forecasts run on falling: the counts flatten above them but not above the
    # count before. That is no new level, and their misses are what holds an engine for the rise.
    plugin = proposer()
    for minute, count in enumerate((900.0, 750.0, 600.0, 450.0, 300.0, 240.0, 240.0, 240.0)):
        path = tuple(max(0.0, count - 150.0 * step) for step in (1, 2, 3))
        plugin.propose(observed_tick(path, count, 60.0 * minute))
    assert plugin.errors.margin() == pytest.approx(240.0 - 1.28)  # against a forecast of 0


def test_forgiven_misses_keep_their_share_and_so_do_those_still_to_come_due() -> None:
    errors = ForecastErrors(60.0)
    for minute in range(12):
        errors.remember(60.0 * minute, [100.0, 100.0, 100.0])
        errors.observe(60.0 * (minute + 1), 160.0, first=1, last=3)
    errors.forgive(made_by=60.0 * 11, kept=0.5)
    assert errors.margin() == pytest.approx((60.0 - 12.8) / 2)
    for minute in (12, 13):  # the paths made up to tick 11 come due
        errors.observe(60.0 * minute, 160.0, first=1, last=3)
    assert errors.margin() == pytest.approx((60.0 - 12.8) / 2)
