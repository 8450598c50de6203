"""An online latency model per role: latency ~ load, fitted on a bounded, load-stratified sample set."""

from __future__ import annotations

import math

import numpy as np

from ..perf.samples import LOAD_RANGE, BandedSamples

__all__ = ["LatencyModel", "LOAD_RANGE"]


class LatencyModel:
    """Fits latency (ms) = intercept + slope * load from the workers' own observations.

    Samples are kept in bands of load (`BandedSamples`). The Huber loss keeps a few outliers (a GC
    pause, a preemption) from tilting the line.
    """

    def __init__(self, max_samples: int = 64, buckets: int = 16, min_samples: int = 5) -> None:
        self.min_samples = min_samples
        self._samples: BandedSamples[tuple[float, float]] = BandedSamples(max_samples, buckets)
        self.intercept: float | None = None
        self.slope: float | None = None

    def add(self, load: float, latency_ms: float) -> None:
        if math.isfinite(load) and math.isfinite(latency_ms) and load >= 0 and latency_ms > 0:
            self._samples.add(load, (load, latency_ms))

    @property
    def samples(self) -> int:
        return len(self._samples)

    def fit(self) -> bool:
        """Refit; False while there are too few samples, or too little spread in load to tell a slope."""
        points = list(self._samples)
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
