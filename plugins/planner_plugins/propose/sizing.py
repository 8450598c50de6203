"""Quantile sizing from the engine profile: batched prefill passes and decode batches over a length mix."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..perf import PerfModel
from .queueing import wait_at_quantile

__all__ = ["LengthMix", "prefill_ttft_quantile_ms", "prefill_engines", "decode_itl_quantile_ms", "decode_engines"]

MAX_ENGINES = 4096


@dataclass(frozen=True)
class LengthMix:
    """Request lengths: means and coefficients of variation of input and output tokens."""

    isl: float
    osl: float
    isl_cv: float = 1.0  # unobserved spread is taken as exponential-like: wider than most traffic
    osl_cv: float = 1.0
    burstiness: float = 1.0  # arrivals' variance over mean per short slice: 1 for Poisson

    @property
    def isl_second_moment(self) -> float:
        return self.isl**2 * (1.0 + self.isl_cv**2)

    def isl_quantile(self, z: float) -> float:
        """A lognormal quantile with this mean and spread."""
        sigma = math.sqrt(math.log1p(self.isl_cv**2))
        return self.isl * math.exp(z * sigma - sigma**2 / 2)


def _pass_ms(perf: PerfModel, tokens: float) -> float:
    return perf.prefill.batch_ms(max(tokens, 1.0))


def prefill_ttft_quantile_ms(perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float) -> float:
    """TTFT at the `z` quantile on `engines` prefill engines fed `rate` requests/s between them.

    An engine prefills what queued during its previous pass in one batched pass, so in steady state
    a pass lasts T = pass_ms(tokens arriving in T): solved by fixed point, infinite when the engine
    cannot keep up. A request waits out the pass under way, then its own: the quantile is two passes
    holding the mean tokens plus `z` standard deviations of a compound Poisson count, and never
    less than the quantile prompt's own pass after a mean one.
    """
    if engines <= 0:
        return math.inf
    if rate <= 0:
        return _pass_ms(perf, mix.isl_quantile(z))
    per_engine = rate / engines
    tokens_per_s = per_engine * mix.isl
    t = _pass_ms(perf, mix.isl) / 1000.0
    for _ in range(200):
        following = _pass_ms(perf, tokens_per_s * t) / 1000.0
        if abs(following - t) < 1e-6:
            break
        if following > 60.0:
            return math.inf  # the queue grows without bound
        t = following
    spread = z * math.sqrt(per_engine * t * mix.isl_second_moment * mix.burstiness)
    busy = _pass_ms(perf, tokens_per_s * t + spread)
    return max(2.0 * busy, _queued_ms(perf, rate, mix, engines, z))


def _idle_ms(perf: PerfModel, mix: LengthMix, z: float) -> float:
    """The quantile prompt alone on an idle engine: its chunked passes at the profile's long-prompt speed."""
    return mix.isl_quantile(z) / perf.prefill.throughput_per_gpu(perf.prefill.max_isl) * 1000.0 + _pass_ms(perf, 1.0)


def _queued_ms(perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float) -> float:
    """The M/G/c view, for long prompts that hold an engine for passes on end: each request is a job
    of ISL / peak throughput seconds, waiting its Allen-Cunneen quantile (the arrivals' burstiness as
    ca^2, the prompt lengths' spread as cs^2), then the quantile prompt's own passes."""
    service = mix.isl / max(perf.prefill.thpt)
    quantile = 0.5 * math.erfc(-z / math.sqrt(2))
    variability = (mix.burstiness + mix.isl_cv**2) / 2.0
    return wait_at_quantile(engines, rate, service, quantile, variability) * 1000.0 + _idle_ms(perf, mix, z)


def prefill_engines(perf: PerfModel, rate: float, mix: LengthMix, ttft_ms: float, z: float) -> int:
    """Fewest prefill engines whose quantile TTFT meets the target. A target below what an idle
    engine does for the quantile prompt is met as nearly as engines can: within 20 % of that."""
    if rate <= 0:
        return 0
    best_possible = max(2.0 * _pass_ms(perf, 1.0), _idle_ms(perf, mix, z))  # as engines grow without end
    goal = max(ttft_ms, 1.2 * best_possible)
    capacity = perf.prefill.throughput_per_gpu(perf.prefill.max_isl)
    engines = max(1, math.floor(rate * mix.isl / capacity))
    while engines < MAX_ENGINES and prefill_ttft_quantile_ms(perf, rate, mix, engines, z) > goal:
        engines += 1
    return engines


def _decode_running(perf: PerfModel, per_engine_rate: float, mix: LengthMix, itl_ms: float) -> float:
    """Mean requests decoding on one engine, by fixed point: Little's law at the ITL the batch itself
    causes (starting from `itl_ms`)."""
    context = mix.isl + mix.osl / 2
    itl = itl_ms
    running = 0.0
    for _ in range(50):
        running = per_engine_rate * max(mix.osl - 1, 1.0) * itl / 1000.0
        kv = running * context / perf.decode.max_kv_tokens
        following = perf.decode.itl_ms(kv, context)
        if abs(following - itl) < 1e-3:
            break
        itl = 0.5 * (itl + following)
    return running


def decode_itl_quantile_ms(perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float) -> float:
    """ITL at the `z` quantile: the KV the batch holds at its mean plus `z` standard deviations of a
    compound Poisson sum of contexts (widened by the arrivals' burstiness); infinite if the reserved
    KV (input + output of every running request) at that quantile does not fit, since requests
    would then wait to start."""
    if engines <= 0:
        return math.inf
    if rate <= 0:
        return perf.decode.itl_ms(0.0, mix.isl)
    context = mix.isl + mix.osl / 2
    running = _decode_running(perf, rate / engines, mix, perf.decode.itl_ms(0.0, context))
    context_m2 = mix.isl_second_moment + mix.isl * mix.osl + (mix.osl**2) * (1 + mix.osl_cv**2) / 3
    reserve = mix.isl + mix.osl
    reserve_m2 = mix.isl_second_moment + 2 * mix.isl * mix.osl + (mix.osl**2) * (1 + mix.osl_cv**2)
    capacity = perf.decode.max_kv_tokens
    # Arrivals in bunches (burstiness above 1) spread the batch's KV wider than Poisson ones.
    if running * reserve + z * math.sqrt(running * reserve_m2 * mix.burstiness) > capacity:
        return math.inf
    kv_tokens = running * context + z * math.sqrt(running * context_m2 * mix.burstiness)
    return perf.decode.itl_ms(kv_tokens / capacity, context)


def decode_engines(perf: PerfModel, rate: float, mix: LengthMix, itl_ms: float, z: float) -> int:
    """Fewest decode engines whose quantile ITL meets the target."""
    if rate <= 0:
        return 0
    engines = 1
    while engines < MAX_ENGINES and decode_itl_quantile_ms(perf, rate, mix, engines, z) > itl_ms:
        engines = engines + 1 if engines < 16 else math.ceil(engines * 1.05)
    return engines
