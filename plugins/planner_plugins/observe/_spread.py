"""The spread of request lengths from a Prometheus histogram: a lognormal fitted to its buckets."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["lognormal_cv"]


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def lognormal_cv(mean: float | None, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The coefficient of variation of the lognormal with this mean whose distribution function best
    matches the histogram's cumulative bucket counts `(le, count)` (least squares over a grid of
    shapes). Fitting the whole distribution, not one interpolated quantile, keeps coarse buckets
    (powers of two, say) from biasing the spread. None without a mean or with under two buckets."""
    finite = sorted((le, count) for le, count in buckets if math.isfinite(le) and le > 0)
    total = max((count for le, count in buckets if le == math.inf), default=None)
    if mean is None or mean <= 0 or total is None or total <= 0 or len(finite) < 2:
        return None
    observed = [(math.log(le), min(1.0, count / total)) for le, count in finite]
    best_sigma, best_error = 0.0, math.inf
    for step in range(1, 301):
        sigma = step * 0.01
        mu = math.log(mean) - sigma * sigma / 2
        error = sum((_normal_cdf((log_le - mu) / sigma) - share) ** 2 for log_le, share in observed)
        if error < best_error:
            best_sigma, best_error = sigma, error
    return math.sqrt(math.expm1(best_sigma * best_sigma))
