"""A load that turns up from well below its peak is taken to rise as it rose the last time, on smooth arrivals."""

from __future__ import annotations

from test_horizon_sizing import observed_tick, prefill_target, proposer

from planner_plugins.propose.forecast_errors import ForecastErrors

# A rise to 1200 requests a minute, a fall back to 300, and a turn up to 500.
ONE_CYCLE = (300.0, 600.0, 900.0, 1200.0, 1200.0, 1200.0, 900.0, 600.0, 300.0, 300.0, 300.0, 300.0)
FALLING = [300.0] * 5


def errors_after(counts: tuple[float, ...]) -> ForecastErrors:
    """Forecast errors of a proposer that forecast each interval flat at the count before it."""
    errors = ForecastErrors(60.0)
    for minute, count in enumerate(counts):
        errors.observe(60.0 * minute, count, 3, 5)
        errors.remember(60.0 * minute, [count] * 5)
    return errors


def test_a_turn_up_from_the_trough_follows_the_last_rise_through_its_level() -> None:
    # The last rise went through 500 between 300 and 600; after it came 900, 1200, 1200, 1200, 900.
    lifted = errors_after((*ONE_CYCLE, 500.0)).as_the_last_rise(FALLING, trust=1.0)
    assert lifted == [800.0, 1100.0, 1100.0, 1100.0, 800.0]


def test_the_rise_followed_is_the_last_ones_shape_from_the_same_level() -> None:
    # Through 650 between 600 and 900, then 1200 three times, 900, 600: each 250 below.
    lifted = errors_after((*ONE_CYCLE, 650.0)).as_the_last_rise(FALLING, trust=1.0)
    assert lifted == [950.0, 950.0, 950.0, 650.0, 350.0]


def test_a_path_already_above_the_last_rise_is_kept() -> None:
    forecast = [1200.0] * 5
    assert errors_after((*ONE_CYCLE, 500.0)).as_the_last_rise(forecast, trust=1.0) == forecast


def test_bursty_arrivals_turning_up_are_not_taken_for_a_rise() -> None:
    assert errors_after((*ONE_CYCLE, 500.0)).as_the_last_rise(FALLING, trust=0.0) == FALLING


def test_a_turn_within_the_counts_noise_is_not_a_rise() -> None:
    assert errors_after((*ONE_CYCLE, 330.0)).as_the_last_rise(FALLING, trust=1.0) == FALLING


def test_a_turn_near_the_peak_is_left_to_the_forecasts() -> None:
    near_the_peak = (*ONE_CYCLE[:6], 900.0)  # down from 1200 to 900, then up to 1100
    assert errors_after((*near_the_peak, 1100.0)).as_the_last_rise([900.0] * 5, trust=1.0) == [900.0] * 5


def test_without_a_rise_remembered_a_turn_is_left_to_the_forecasts() -> None:
    flat_then_up = (300.0,) * 12 + (500.0,)
    assert errors_after(flat_then_up).as_the_last_rise(FALLING, trust=1.0) == FALLING


def test_the_proposer_provisions_a_turn_like_the_last_rise_before_its_forecasts_see_it() -> None:
    def prefill_at_the_turn(history: tuple[float, ...]) -> int:
        plugin = proposer()
        for minute, count in enumerate(history):
            plugin.propose(observed_tick((count,) * 3, count, 60.0 * minute))
        return prefill_target(plugin, observed_tick((300.0,) * 3, 500.0, 60.0 * len(history)))

    assert prefill_at_the_turn(ONE_CYCLE) > prefill_at_the_turn((300.0,) * len(ONE_CYCLE))
