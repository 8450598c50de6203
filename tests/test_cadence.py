"""The base cadence is the exact gcd of the plugins' intervals; an explicit base must divide them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from planner.errors import ConfigError
from planner.scheduling import base_cadence


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([0.1, 0.3], Fraction(1, 10)),
        ([5, 180], Fraction(5)),
        ([0.5, 1.5], Fraction(1, 2)),
        ([180], Fraction(180)),
        ([0.2, 0.25], Fraction(1, 20)),
        ([4, 6, 9], Fraction(1)),
    ],
)
def test_base_is_exact_gcd_of_intervals(intervals: list[float], expected: Fraction) -> None:
    named = {f"p{i}": v for i, v in enumerate(intervals)}
    assert base_cadence(named, None) == expected


def test_explicit_base_that_divides_every_interval_is_used() -> None:
    assert base_cadence({"a": 5, "b": 180}, 2.5) == Fraction(5, 2)


def test_explicit_base_that_does_not_divide_names_the_plugin() -> None:
    with pytest.raises(ConfigError) as err:
        base_cadence({"builtin_load_propose": 5, "slow": 180}, 2)
    message = str(err.value)
    assert "scheduling.scale_interval_seconds=2" in message
    assert "builtin_load_propose" in message


def test_no_plugins_and_no_explicit_base_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no plugin is enabled"):
        base_cadence({}, None)
