"""An online latency model per role: latency ~ load, fitted on a bounded, load-stratified sample set."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

__all__ = ["LatencyModel", "LOAD_RANGE"]

LOAD_RANGE = 1e7
"""Loads (tokens) the bands cover; larger loads share the top band."""


class LatencyModel:
    """Fits latency (ms) = intercept + slope * load from the workers' own observations.

    Samples are kept in `buckets` bands of load (log-spaced up to LOAD_RANGE tokens, so a quiet hour and a busy one
    both keep a say) of `max_samples / buckets` samples each, the oldest retired first within a
    band: a model of only the newest, similar points would extrapolate wildly. The Huber loss
    keeps a few outliers (a GC pause, a preemption) from tilting the line.
    """

    def __init__(self, max_samples: int = 64, buckets: int = 16, min_samples: int = 5) -> None:
        self.buckets = max(1, buckets)
        self.min_samples = min_samples
        per_bucket = max(1, max_samples // self.buckets)
        self._bands: list[deque[tuple[float, float]]] = [deque(maxlen=per_bucket) for _ in range(self.buckets)]
        self.intercept: float | None = None
        self.slope: float | None = None

    def _band(self, load: float) -> int:
        # Fixed bands, log-spaced from 1 to LOAD_RANGE tokens: a band never moves under a sample.
        position = math.log1p(max(load, 0.0)) / math.log1p(LOAD_RANGE)
        return min(self.buckets - 1, int(position * self.buckets))

    def add(self, load: float, latency_ms: float) -> None:
        if math.isfinite(load) and math.isfinite(latency_ms) and load >= 0 and latency_ms > 0:
            self._bands[self._band(load)].append((load, latency_ms))

    @property
    def samples(self) -> int:
        return sum(len(band) for band in self._bands)

    def fit(self) -> bool:
        """Refit; False while there are too few samples, or too little spread in load to tell a slope."""
        points = [p for band in self._bands for p in band]
        loads = np.array([p[0] for p in points])
        if len(points) < self.min_samples or np.ptp(loads) <= 0:
            return False
        latencies = np.array([p[1] for p in points])
        scale = float(np.max(loads))  # the solver needs loads near 1, not near 10^5 tokens
        try:
            # scikit-learn loads only once a load-based fit runs: it is most of the daemon's start-up otherwise.
            from sklearn.linear_model import HuberRegressor

            model = HuberRegressor(max_iter=500).fit((loads / scale).reshape(-1, 1), latencies)
            intercept, slope = float(model.intercept_), float(model.coef_[0])
        except ValueError:  # no convergence: ordinary least squares is the fallback
            slope, intercept = (float(v) for v in np.polyfit(loads / scale, latencies, 1))
        self.intercept, self.slope = intercept, slope / scale
        return self.slope > 0

    def estimate(self, load: float) -> float:
        if self.intercept is None or self.slope is None:
            raise RuntimeError("fit() the model first")
        return self.intercept + self.slope * load

    def load_for(self, latency_ms: float) -> float:
        """The most load that still meets `latency_ms` (0 if even an idle engine misses it)."""
        if self.intercept is None or self.slope is None or self.slope <= 0:
            raise RuntimeError("fit() the model first (a positive slope is needed)")
        return max(0.0, (latency_ms - self.intercept) / self.slope)
