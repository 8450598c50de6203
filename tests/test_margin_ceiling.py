"""The forecast-miss margin holds capacity for load like what has been seen, not far beyond it."""

from __future__ import annotations

from test_horizon_sizing import P, observed_tick, prefill_target, proposer

from planner_plugins.propose import ThroughputPropose
from planner_plugins.propose.forecast_errors import PEAK_HEADROOM

BUSY, FORECAST = 800.0, 200.0  # requests a minute, and what the forecasts kept saying


def after_misses(dispersion: float | None, minutes: int = 12) -> tuple[ThroughputPropose, int]:
    """A proposer whose forecasts said `FORECAST` for `minutes` minutes of `BUSY`, and the prefill
    target it then sets for a forecast of `BUSY`."""
    plugin, fleet = proposer(), 2
    for minute in range(minutes):
        fleet = prefill_target(plugin, observed_tick((FORECAST,) * 3, BUSY, 60.0 * minute, dispersion, fleet))
    target = prefill_target(plugin, observed_tick((BUSY,) * 3, BUSY, 60.0 * minutes, dispersion, fleet))
    return plugin, target


def engines_for(plugin: ThroughputPropose, requests_per_minute: float) -> int:
    """Prefill engines `plugin` sizes for this load, at the spread and burstiness it has read."""
    return plugin.size(requests_per_minute, 8000, 200)[P]


def test_once_forecasts_have_a_record_smooth_traffic_is_sized_at_most_a_quarter_above_its_peak() -> None:
    plugin, target = after_misses(dispersion=1.0)
    assert plugin.errors.proven
    assert plugin.margin > BUSY * PEAK_HEADROOM
    ceiling = BUSY * (1 + PEAK_HEADROOM)
    assert engines_for(plugin, BUSY + plugin.margin) > engines_for(plugin, ceiling)  # the ceiling binds
    assert target == engines_for(plugin, ceiling)


def test_bursty_arrivals_keep_the_whole_margin() -> None:
    plugin, target = after_misses(dispersion=5.0)
    assert target == engines_for(plugin, BUSY + plugin.margin)


def test_unread_arrivals_keep_the_whole_margin() -> None:
    plugin, target = after_misses(dispersion=None)
    assert target == engines_for(plugin, BUSY + plugin.margin)


def test_before_forecasts_have_a_record_the_counts_rise_is_not_held_to_the_peak() -> None:
    plugin, fleet = proposer(), 2
    for minute, count in enumerate((200.0, 200.0, 800.0)):  # a rise the first counts show, unproven
        fleet = prefill_target(plugin, observed_tick((count,) * 3, count, 60.0 * minute, 1.0, fleet))
    assert not plugin.errors.proven
    assert plugin.margin > BUSY * PEAK_HEADROOM
    assert engines_for(plugin, BUSY + plugin.margin) > engines_for(plugin, BUSY * (1 + PEAK_HEADROOM))
    # At least that: also the backlog the two engines serving leave as the load rises past them (test_rising_backlog).
    assert fleet >= engines_for(plugin, BUSY + plugin.margin)
