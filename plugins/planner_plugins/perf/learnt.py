"""Engine speed learnt online from the engines' own metrics, for deployments with no profile and no
AIConfigurator model: a prefill pass's time against its prompt tokens, a decode step's time against
its running requests and the tokens in its KV cache."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np

from planner_sdk import Role, WorkerLoad

from .model import PerfModel
from .samples import BandedSamples
from .sweep import PREFILL_ISL, swept_profile

__all__ = ["EngineModelLearner", "LinearFit", "fit_non_negative"]

MIN_PREFILL_SAMPLES = 12
MIN_DECODE_SAMPLES = 16
SMOOTHING = 5  # prefill samples whose median is each point of the curve
MIN_SPREAD = 3.0  # the largest load seen over the smallest: a slope needs load that varied
COLLINEAR = 0.95  # |correlation| of running requests and cached tokens past which they are one load
MIN_BAND_SAMPLES = 2  # a band's measured/fitted ratio counts from this many samples
MAX_RELATIVE_ERROR = 0.2  # of the fit over its own samples: beyond it the form does not fit the engine
YOUNG_MARGIN = 0.10  # latencies read this much slower when the fit is new...
MARGIN_FADES_AFTER = 1  # ...fading out over this many sample memories' worth of observations


@dataclass(frozen=True)
class LinearFit:
    """latency = sum(coefficient * feature); every coefficient >= 0 (more work never goes faster)."""

    coefficients: tuple[float, ...]
    relative_error: float  # root-mean-square error over the mean latency, on the samples fitted

    def __call__(self, features: Iterable[float]) -> float:
        return sum(c * f for c, f in zip(self.coefficients, features, strict=True))


def fit_non_negative(features: np.ndarray, latencies: np.ndarray) -> LinearFit:
    """Least squares over the feature columns (the first is the constant), dropping any column whose
    coefficient comes out negative and refitting: collinear loads (every engine at one context)
    otherwise trade a large positive for a large negative term that extrapolates absurdly."""
    keep = list(range(features.shape[1]))
    scale = np.maximum(np.abs(features).max(axis=0), 1e-12)  # columns near 1 for the solver
    while True:
        solution, *_ = np.linalg.lstsq(features[:, keep] / scale[keep], latencies, rcond=None)
        negative = [k for k, c in zip(keep, solution, strict=True) if c < 0 and k != 0]
        if not negative:
            break
        keep.remove(min(negative, key=lambda k: solution[keep.index(k)]))
    coefficients = [0.0] * features.shape[1]
    for k, c in zip(keep, solution, strict=True):
        coefficients[k] = max(0.0, float(c / scale[k]))
    fit = LinearFit(tuple(coefficients), 0.0)
    predicted = np.array([fit(row) for row in features])
    error = float(np.sqrt(np.mean((predicted - latencies) ** 2)) / max(float(np.mean(latencies)), 1e-9))
    return LinearFit(fit.coefficients, error)


def _decode_features(batch: float, kv_tokens: float) -> tuple[float, float, float]:
    return (1.0, batch, kv_tokens)  # per-request work, and attention over every cached token


@dataclass(frozen=True)
class DecodeStep:
    """A decode step's time: the linear fit, times how the engines' steps measured against it in each
    band of KV usage they ran at (a real engine's curve bends: kernels change at batch sizes, the cache
    fills unevenly), held at the nearest band's ratio outside the bands seen."""

    fit: LinearFit
    max_kv_tokens: float
    usages: tuple[float, ...]  # the bands' median KV usage, ascending
    ratios: tuple[float, ...]  # the bands' median measured / fitted step time

    def _at(self, batch: float, context: float) -> float:
        usage = batch * context / self.max_kv_tokens
        ratio = float(np.interp(usage, self.usages, self.ratios)) if self.usages else 1.0
        return self.fit(_decode_features(batch, batch * context)) * ratio

    def __call__(self, batch: float, context: float) -> float:
        # A fuller batch never steps faster: at least the step of any smaller band's batch of this context.
        smaller = (u * self.max_kv_tokens / context for u in self.usages if u * self.max_kv_tokens < batch * context)
        return max([self._at(batch, context), *(self._at(b, context) for b in smaller if b > 0)])


class EngineModelLearner:
    """Fits the engines' speed from what their /metrics say each tick, in bounded memory: `max_samples`
    in `buckets` bands of load, as Dynamo keeps forward-pass metrics (four times its default 64: a
    fit over two quantities wants more points than the load loop's line).

    `model()` is None, with `status` saying why, until both fits are trustworthy: enough samples,
    load that varied (the largest seen at least MIN_SPREAD times the smallest; points from one load
    cannot tell a slope) and a fit that matches its own samples. While young, latencies read
    YOUNG_MARGIN slower, fading as observations accumulate.
    """

    def __init__(self, prefill_gpus: int = 1, decode_gpus: int = 1, max_samples: int = 256, buckets: int = 16) -> None:
        self.prefill_gpus, self.decode_gpus = prefill_gpus, decode_gpus
        self.max_samples = max_samples
        self.prefill: BandedSamples[tuple[float, float]] = BandedSamples(max_samples, buckets)
        # Decode samples banded by the share of the KV cache they ran at, evenly: the fit must hold
        # near the ITL target (a busy engine), which log bands of tokens would leave one band.
        self.decode: BandedSamples[tuple[float, float, float]] = BandedSamples(
            max_samples, buckets, load_range=1.0, linear=True
        )
        self.max_kv_tokens: float | None = None
        self._capacity_missing = False
        self.status = "no engine metrics yet"
        self.seen_since_ready = 0
        self._ready = False
        self._model: PerfModel | None = None
        self._changed = False

    def observe(self, workers: Iterable[WorkerLoad]) -> None:
        """One tick's engine metrics: a sample from each busy engine."""
        for w in workers:
            if w.missing:
                continue
            tokens, pass_ms = w.forward_pass_tokens, w.forward_pass_ms
            if w.role is Role.PREFILL and _positive(tokens) and _positive(pass_ms):
                self.prefill.add(tokens, (tokens, pass_ms))
                self._seen()
            elif w.role is Role.DECODE:
                if not _positive(w.max_kv_tokens):
                    # A step's load is its share of the cache: unknown without the capacity (said in status).
                    self._capacity_missing = self._changed = True
                    continue
                self.max_kv_tokens = max(self.max_kv_tokens or 0.0, w.max_kv_tokens)
                batch, kv = w.running_requests, w.scheduled_kv_tokens
                itl = w.recent_itl_ms if w.recent_itl_ms is not None else pass_ms
                if _positive(batch) and _positive(kv) and _positive(itl):
                    self.decode.add(kv / w.max_kv_tokens, (batch, kv, itl))
                    self._seen()

    def _seen(self) -> None:
        self._changed = True
        if self._ready:
            self.seen_since_ready += 1

    @property
    def margin(self) -> float:
        fade = self.seen_since_ready / (MARGIN_FADES_AFTER * self.max_samples)
        return YOUNG_MARGIN * max(0.0, 1.0 - fade)

    def _prefill_curve(self) -> tuple[list[float], list[float]] | str:
        """A pass's time against its tokens, taken as measured like a profile's table (no form is
        assumed): the samples in order of tokens, each time the median of its neighbours (a noisy
        pass does not make a step), then made non-decreasing (a longer pass is never faster)."""
        points = sorted(self.prefill)
        if len(points) < MIN_PREFILL_SAMPLES:
            return f"prefill: {len(points)} of {MIN_PREFILL_SAMPLES} samples"
        tokens = [p[0] for p in points]
        if tokens[-1] < MIN_SPREAD * tokens[0]:
            return f"prefill load has not varied enough (passes of {tokens[0]:.0f}-{tokens[-1]:.0f} tokens)"
        times = [p[1] for p in points]
        half = SMOOTHING // 2
        smoothed = [float(np.median(times[max(0, i - half) : i + half + 1])) for i in range(len(times))]
        xs: list[float] = []
        ys: list[float] = []
        for x, y in zip(tokens, np.maximum.accumulate(smoothed), strict=True):
            if xs and x <= xs[-1]:  # passes of equal size: one point, the later (larger) time
                ys[-1] = float(y)
                continue
            xs.append(x)
            ys.append(float(y))
        return xs, ys

    def _decode_step(self) -> DecodeStep | str:
        fit = self._decode_fit()
        if isinstance(fit, str):
            return fit
        assert self.max_kv_tokens is not None
        usages: list[float] = []
        ratios: list[float] = []
        bands = self.decode.bands()
        for i, band in enumerate(bands):
            if len(band) < MIN_BAND_SAMPLES:
                continue
            # The ratio of this band and its neighbours: one band's few samples are a noisy say.
            near = [sample for other in bands[max(0, i - 1) : i + 2] for sample in other]
            usages.append(float(np.median([kv / self.max_kv_tokens for _, kv, _ in band])))
            ratios.append(float(np.median([itl / fit(_decode_features(b, kv)) for b, kv, itl in near])))
        return DecodeStep(fit, self.max_kv_tokens, tuple(usages), tuple(ratios))

    def _decode_fit(self) -> LinearFit | str:
        points = list(self.decode)
        if self.max_kv_tokens is None and self._capacity_missing:
            return "decode engines report no KV capacity (max_kv_tokens)"
        if len(points) < MIN_DECODE_SAMPLES or self.max_kv_tokens is None:
            return f"decode: {len(points)} of {MIN_DECODE_SAMPLES} samples"
        kv = np.array([p[1] for p in points])
        if kv.max() < MIN_SPREAD * kv.min():
            share = 100 / self.max_kv_tokens
            return f"decode load has not varied enough (KV {share * kv.min():.0f}-{share * kv.max():.0f} % of capacity)"
        features = np.array([_decode_features(p[0], p[1]) for p in points])
        batch = features[:, 1]
        if np.ptp(batch) == 0 or abs(float(np.corrcoef(batch, kv)[0, 1])) > COLLINEAR:
            # Every engine at one context: requests and cached tokens move together and cannot be told
            # apart. Attention over the cache is most of a step (AIConfigurator's models agree): keep it.
            features[:, 1] = 0.0
        fit = fit_non_negative(features, np.array([p[2] for p in points]))
        if fit.relative_error > MAX_RELATIVE_ERROR or fit.coefficients[1] + fit.coefficients[2] <= 0:
            return f"decode fit does not match its samples ({100 * fit.relative_error:.0f} % error)"
        return fit

    def model(self) -> PerfModel | None:
        """The engines' performance model as learnt so far, or None while it is not trustworthy."""
        if not self._changed:
            return self._model
        self._changed = False
        prefill, decode = self._prefill_curve(), self._decode_step()
        if isinstance(prefill, str) or isinstance(decode, str):
            self.status = "; ".join(s for s in (prefill, decode) if isinstance(s, str))
            if not self._ready:
                return None
            return self._model  # a trusted model is kept through a stretch the new samples do not support
        assert self.max_kv_tokens is not None
        self._ready = True
        slower = 1.0 + self.margin
        xs, ys = prefill
        profile = swept_profile(
            lambda isl: _along(isl, xs, ys) * slower,
            lambda batch, context: decode(batch, context) * slower,
            int(self.max_kv_tokens),
            prefill_gpus=self.prefill_gpus,
            decode_gpus=self.decode_gpus,
            # Up to 4x the longest pass seen: the fitted curve is trusted a little past its samples.
            max_context=int(min(PREFILL_ISL[-1], max(4 * xs[-1], 16384))),
            source="learnt from the engines' metrics",
        )
        self._model = PerfModel.from_profile(profile, self.decode_gpus, self.prefill_gpus)
        self.status = (
            f"ready ({len(self.prefill)} prefill, {len(self.decode)} decode samples; margin {self.margin:.0%})"
        )
        return self._model


def _positive(value: float | None) -> TypeGuard[float]:
    return value is not None and bool(np.isfinite(value)) and value > 0


def _along(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear through the points; past the last, at the last point's time per token."""
    if x >= xs[-1]:
        return ys[-1] * x / xs[-1]
    return float(np.interp(x, xs, ys))
