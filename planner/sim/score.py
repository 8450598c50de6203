"""Score a finished simulation: SLA attainment, latency percentiles, GPU-hours."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .engines import SimRequest

__all__ = ["LatencyScore", "score_requests", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


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


def score_requests(requests: Sequence[SimRequest], ttft_ms: float, itl_ms: float) -> LatencyScore:
    """A request that never finished counts as a miss on both targets."""
    ttft_target, itl_target = ttft_ms / 1000.0, itl_ms / 1000.0
    ttft_ok = itl_ok = both_ok = 0
    ttfts: list[float] = []
    itls: list[float] = []
    for request in requests:
        if request.finish < 0:
            continue
        ttft, itl = request.ttft_s, request.itl_s
        ttfts.append(ttft)
        itls.append(itl)
        good_ttft, good_itl = ttft <= ttft_target, itl <= itl_target
        ttft_ok += good_ttft
        itl_ok += good_itl
        both_ok += good_ttft and good_itl
    n = len(requests)
    return LatencyScore(
        requests=n,
        sla_attainment=both_ok / n if n else 1.0,
        ttft_attainment=ttft_ok / n if n else 1.0,
        itl_attainment=itl_ok / n if n else 1.0,
        p50_ttft_ms=percentile(ttfts, 50) * 1000.0,
        p99_ttft_ms=percentile(ttfts, 99) * 1000.0,
        p50_itl_ms=percentile(itls, 50) * 1000.0,
        p99_itl_ms=percentile(itls, 99) * 1000.0,
    )
