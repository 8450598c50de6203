"""Engine performance model: prefill ISL -> TTFT/throughput, decode (KV usage, context) -> ITL/throughput."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .profile import DecodeSamples, EngineProfile, PrefillSamples

__all__ = ["PrefillModel", "DecodeModel", "DecodeOperatingPoint", "MixedStep", "PerfModel"]

MixedStep = Callable[[float, float, float], float]
"""(prefill tokens, decode batch, mean context) -> ms: one step of an engine doing both."""


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear interpolation, clamped to the sampled range (scalar, no numpy overhead)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1 = xs[i - 1], xs[i]
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0)


class PrefillModel:
    """Prefill engine speed. Inside the sampled ISL range the profile is interpolated; beyond it the
    throughput at the nearest sample holds (a longer prompt takes proportionally longer)."""

    def __init__(self, samples: PrefillSamples, gpus_per_engine: int = 1) -> None:
        self.gpus_per_engine = gpus_per_engine
        self.isl = [float(v) for v in samples.isl]
        self.ttft = [float(v) for v in samples.ttft_ms]
        self.thpt = [float(v) for v in samples.throughput_per_gpu]
        self.min_isl, self.max_isl = self.isl[0], self.isl[-1]

    def ttft_ms(self, isl: float) -> float:
        """TTFT of a lone request of `isl` tokens on one engine, with no queueing."""
        return _interp(min(max(isl, self.min_isl), self.max_isl), self.isl, self.ttft)

    def throughput_per_gpu(self, isl: float) -> float:
        """Prefill tokens per second per GPU at this input length (clamped to the sampled range)."""
        return _interp(isl, self.isl, self.thpt)

    def engine_throughput(self, isl: float) -> float:
        """Prefill tokens per second of one engine (all its GPUs) at this input length."""
        return self.throughput_per_gpu(isl) * self.gpus_per_engine

    @property
    def peak_engine_throughput(self) -> float:
        return max(self.thpt) * self.gpus_per_engine

    @property
    def fixed_ms(self) -> float:
        """A pass's cost before any token: the TTFT line through the two shortest prompts, at zero
        tokens (weights read, scheduling, sampling; paid once per pass however many tokens it holds)."""
        if len(self.isl) < 2 or self.isl[1] <= self.isl[0]:
            return 0.0
        slope = (self.ttft[1] - self.ttft[0]) / (self.isl[1] - self.isl[0])
        return min(max(self.ttft[0] - slope * self.isl[0], 0.0), self.ttft[0])

    def batch_ms(self, tokens: float) -> float:
        """Time to prefill `tokens` in one pass (a chunked batch counts as one prompt of its total)."""
        if tokens <= self.max_isl:
            return _interp(tokens, self.isl, self.ttft)
        return tokens / (self.thpt[-1] * self.gpus_per_engine) * 1000.0


@dataclass(frozen=True)
class DecodeOperatingPoint:
    """Where a decode engine runs: its KV usage, the ITL there and the throughput per GPU."""

    kv_usage: float
    itl_ms: float
    throughput_per_gpu: float
    meets_target: bool


class DecodeModel:
    """Decode engine speed from the profiler's scattered (KV usage, context) samples.

    Samples are grouped into rows of equal context length. Within a row, ITL is made
    non-decreasing in KV usage (the raw sweep is not monotone: a bigger batch is never
    faster, so a dip is measurement noise), interpolated linearly, and extrapolated with the
    last segment's slope past the row's highest sample. Between rows it blends linearly.
    Throughput follows from ITL: concurrency = KV usage * max_kv_tokens / context, and each
    running request emits one token per ITL.
    """

    def __init__(self, samples: DecodeSamples, gpus_per_engine: int = 1) -> None:
        self.max_kv_tokens = samples.max_kv_tokens
        self.gpus_per_engine = gpus_per_engine
        self.rows: list[tuple[float, list[float], list[float]]] = []
        for context in sorted(set(float(c) for c in samples.context_length)):
            mask = samples.context_length == context
            order = np.argsort(samples.kv_usage[mask])
            kv = [float(v) for v in samples.kv_usage[mask][order]]
            itl = [float(v) for v in np.maximum.accumulate(samples.itl_ms[mask][order])]
            if len(kv) == 1:  # a lone sample: flat row
                kv, itl = [kv[0], kv[0] + 1.0], [itl[0], itl[0]]
            self.rows.append((context, kv, itl))
        self.contexts = [row[0] for row in self.rows]

    def _row_itl(self, row: int, kv_usage: float) -> float:
        _, kv, itl = self.rows[row]
        if kv_usage <= kv[-1]:
            return _interp(kv_usage, kv, itl)
        slope = max(0.0, (itl[-1] - itl[-2]) / (kv[-1] - kv[-2])) if kv[-1] > kv[-2] else 0.0
        return itl[-1] + slope * (kv_usage - kv[-1])

    def itl_ms(self, kv_usage: float, context_length: float) -> float:
        """ITL of a decode engine whose KV cache is `kv_usage` full at mean context `context_length`."""
        contexts = self.contexts
        if context_length <= contexts[0]:
            return self._row_itl(0, kv_usage)
        if context_length >= contexts[-1]:
            return self._row_itl(len(contexts) - 1, kv_usage)
        hi = bisect.bisect_right(contexts, context_length)
        lo = hi - 1
        w = (context_length - contexts[lo]) / (contexts[hi] - contexts[lo])
        return (1 - w) * self._row_itl(lo, kv_usage) + w * self._row_itl(hi, kv_usage)

    def concurrency(self, kv_usage: float, context_length: float) -> float:
        return max(1.0, kv_usage * self.max_kv_tokens / max(context_length, 1.0))

    def throughput_per_gpu(self, kv_usage: float, context_length: float) -> float:
        """Output tokens per second per GPU at this operating point."""
        itl = self.itl_ms(kv_usage, context_length)
        return self.concurrency(kv_usage, context_length) * 1000.0 / itl / self.gpus_per_engine

    def best_operating_point(self, itl_target_ms: float, context_length: float) -> DecodeOperatingPoint:
        """The highest KV usage (so the best throughput per GPU) whose ITL meets the target."""
        lo, hi = 0.0, 1.0
        if self.itl_ms(lo, context_length) > itl_target_ms:
            return DecodeOperatingPoint(
                0.0, self.itl_ms(0.0, context_length), self.throughput_per_gpu(0.0, context_length), False
            )
        if self.itl_ms(hi, context_length) <= itl_target_ms:
            lo = hi
        else:
            for _ in range(40):  # ITL is non-decreasing in KV usage: bisect
                mid = (lo + hi) / 2
                if self.itl_ms(mid, context_length) <= itl_target_ms:
                    lo = mid
                else:
                    hi = mid
        return DecodeOperatingPoint(
            lo, self.itl_ms(lo, context_length), self.throughput_per_gpu(lo, context_length), True
        )


@dataclass(frozen=True)
class PerfModel:
    """An engine's speed: prefill passes, decode steps, and the mixed steps of an aggregated engine
    (from the source where it predicts them, AIConfigurator; else composed from the other two)."""

    prefill: PrefillModel
    decode: DecodeModel
    predicted_mixed_step: MixedStep | None = None

    def mixed_step_ms(self, prefill_tokens: float, decode_batch: float, context: float) -> float:
        """One step of an engine that prefills `prefill_tokens` (chunks of waiting prompts) while it
        decodes `decode_batch` requests of `context` tokens on average."""
        if self.predicted_mixed_step is not None:
            return self.predicted_mixed_step(prefill_tokens, decode_batch, context)
        kv_usage = max(decode_batch, 0.0) * context / self.decode.max_kv_tokens
        # The decode step plus what the prompt tokens add to a pass beyond its fixed cost (the weights
        # read once a step). AIConfigurator's own mixed steps agree within 7 % (15 % for a late chunk of a 16k prompt).
        added = max(0.0, self.prefill.batch_ms(prefill_tokens) - self.prefill.fixed_ms) if prefill_tokens > 0 else 0.0
        return self.decode.itl_ms(kv_usage, context) + added

    @property
    def request_overhead_ms(self) -> float:
        """What a lone prompt's TTFT holds beyond an engine step (scheduling it, sampling and returning
        its first token): a request's latency, not a step's."""
        return max(0.0, self.prefill.fixed_ms - self.decode.itl_ms(0.0, self.prefill.min_isl))

    @classmethod
    def from_profile(
        cls, profile: EngineProfile, decode_gpus_per_engine: int = 1, prefill_gpus_per_engine: int = 1
    ) -> PerfModel:
        """The model of engines as profiled: latencies are an engine's; throughputs per GPU, times an
        engine's GPUs where a whole engine's is asked for."""
        return cls(
            PrefillModel(profile.prefill, prefill_gpus_per_engine), DecodeModel(profile.decode, decode_gpus_per_engine)
        )
