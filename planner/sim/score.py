"""Score a finished simulation: SLA attainment, latency percentiles, GPU-hours."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .engines import RequestOutcomes

__all__ = ["LatencyScore", "score_outcomes", "percentile", "targets_met"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def targets_met(ttft_s: float, itl_s: float, ttft_ms: float, itl_ms: float) -> tuple[bool, bool]:
    """Whether one request's TTFT and ITL (seconds) meet the targets (milliseconds)."""
    return ttft_s <= ttft_ms / 1000.0, itl_s <= itl_ms / 1000.0


@dataclass
class LatencyScore:
    requests: int
    sla_attainment: float
    ttft_attainment: float
    itl_attainment: float
    p50_ttft_ms: float
    p99_ttft_ms: float
    p50_itl_ms: float
    p99_itl_ms: float


def score_outcomes(outcomes: RequestOutcomes, requests: int, ttft_ms: float, itl_ms: float) -> LatencyScore:
    """Attainment over `requests` (the finished ones and those that never finished, which count as
    a miss on both targets) and latency percentiles over the finished ones."""
    if requests < len(outcomes):
        raise ValueError(f"{len(outcomes)} requests finished, more than the {requests} scored")
    ttft_ok = itl_ok = both_ok = 0
    for ttft, itl in zip(outcomes.ttft_s, outcomes.itl_s, strict=True):
        good_ttft, good_itl = targets_met(ttft, itl, ttft_ms, itl_ms)
        ttft_ok += good_ttft
        itl_ok += good_itl
        both_ok += good_ttft and good_itl
    n = requests
    return LatencyScore(
        requests=n,
        sla_attainment=both_ok / n if n else 1.0,
        ttft_attainment=ttft_ok / n if n else 1.0,
        itl_attainment=itl_ok / n if n else 1.0,
        p50_ttft_ms=percentile(outcomes.ttft_s, 50) * 1000.0,
        p99_ttft_ms=percentile(outcomes.ttft_s, 99) * 1000.0,
        p50_itl_ms=percentile(outcomes.itl_s, 50) * 1000.0,
        p99_itl_ms=percentile(outcomes.itl_s, 99) * 1000.0,
    )
