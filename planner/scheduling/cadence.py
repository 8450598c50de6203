"""Exact cadence arithmetic: intervals as rationals, the base as their gcd."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from ..errors import ConfigError

__all__ = ["as_fraction", "gcd_of", "base_cadence"]


def as_fraction(seconds: float) -> Fraction:
    """The decimal the user wrote (0.1 is 1/10, not the nearest binary float)."""
    return Fraction(repr(float(seconds)))


def gcd_of(values: list[Fraction]) -> Fraction:
    """Greatest common divisor of positive rationals: the largest d with every value/d whole."""
    if not values:
        raise ValueError("gcd of no intervals")
    numerator, denominator = values[0].numerator, values[0].denominator
    for value in values[1:]:
        numerator = math.gcd(numerator * value.denominator, value.numerator * denominator)
        denominator *= value.denominator
    return Fraction(numerator, denominator)


def base_cadence(intervals: Mapping[str, float], explicit: float | None) -> Fraction:
    """The tick period: `explicit` if it divides every interval, else the intervals' gcd."""
    fractions = {plugin_id: as_fraction(seconds) for plugin_id, seconds in intervals.items()}
    if explicit is None:
        if not fractions:
            raise ConfigError(["no plugin is enabled, so there is no cadence to run at"])
        return gcd_of(list(fractions.values()))
    base = as_fraction(explicit)
    for plugin_id, interval in sorted(fractions.items()):
        if (interval / base).denominator != 1:
            raise ConfigError(
                [
                    f"scheduling.scale_interval_seconds={explicit!r} does not divide plugin "
                    f"{plugin_id!r}'s execution_interval_seconds={float(interval)!r}"
                ]
            )
    return base
