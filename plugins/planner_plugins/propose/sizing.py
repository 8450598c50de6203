"""Quantile sizing from the engine model: decode batches, aggregated engines' mixed steps; prefill
passes are `prefill_sizing`'s, re-exported here with the lengths they share."""

from __future__ import annotations

import math

from ..perf import PerfModel
from .lengths import MAX_ENGINES, LengthMix
from .prefill_sizing import prefill_engines, prefill_ttft_quantile_ms

__all__ = [
    "LengthMix",
    "STEP_TOKEN_BUDGET",
    "agg_engines",
    "agg_latency_quantiles_ms",
    "decode_engines",
    "decode_itl_quantile_ms",
    "prefill_engines",
    "prefill_ttft_quantile_ms",
]


def _decode_running(perf: PerfModel, per_engine_rate: float, mix: LengthMix, itl_ms: float) -> float:
    """Mean requests decoding on one engine, by fixed point: Little's law at the ITL the batch itself
    causes (starting from `itl_ms`)."""
    context = mix.context
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


LIFETIME_AVERAGING = math.sqrt(2.0 / math.e)

FEEDBACK_SHARE = 0.75
"""The share of the KV-ITL loop's static gain a fluctuation of the batch meets (see `_kv_feedback`):
a bunch of requests slows only the rest of the lives of the requests decoding beside it, and it
grows the KV as its outputs do. Measured on Mooncake conversation x5 at ITL 30 ms: 0.5 left a
bunch of long prompts (1.35 x the rate with 1.2 x the context for 15 s) overflowing 4D's KV, and
1.0 added cost (Mooncake synthetic 1.25 -> 1.29 x oracle) with no further attainment."""


def _kv_feedback(perf: PerfModel, per_engine_rate: float, mix: LengthMix, running: float) -> float:
    """How much the decode loop amplifies a fluctuation of the batch's KV: more KV slows each step,
    slower steps keep every request in the batch longer, and a longer stay holds more KV. The loop's
    gain is d(KV)/d(ITL) * d(ITL)/d(KV); a gain g amplifies by 1 / (1 - g), and past 1 the batch
    has no level it settles at: the KV fills and requests wait to start (infinite)."""
    capacity, context = perf.decode.max_kv_tokens, mix.context
    fill = running * context / capacity
    if fill >= 1.0:
        return math.inf
    low, high = max(0.0, fill - 0.05), fill + 0.05
    itl_per_fill = (perf.decode.itl_ms(high, context) - perf.decode.itl_ms(low, context)) / (high - low)
    fill_per_itl = per_engine_rate * max(mix.osl - 1, 1.0) / 1000.0 * context / capacity
    gain = FEEDBACK_SHARE * itl_per_fill * fill_per_itl
    return math.inf if gain >= 1.0 else 1.0 / (1.0 - gain)


def decode_itl_quantile_ms(perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float) -> float:
    """ITL at the `z` quantile: the KV the batch holds at its mean plus `z` standard deviations of a
    compound Poisson sum of contexts (widened by the arrivals' burstiness); infinite if the reserved
    KV (input + output of every running request) at that quantile does not fit, since requests
    would then wait to start."""
    if engines <= 0:
        return math.inf
    if rate <= 0:
        return perf.decode.itl_ms(0.0, mix.isl)
    context = mix.context
    running = _decode_running(perf, rate / engines, mix, perf.decode.itl_ms(0.0, context))
    reserve, reserve_m2 = mix.reserve, mix.reserve_second_moment
    capacity = perf.decode.max_kv_tokens
    if running * reserve > capacity:
        return math.inf
    # Arrivals in bunches (burstiness above 1) spread the batch's KV wider than Poisson ones, and the
    # KV-ITL loop widens that spread again. Where the reserved KV overflows, requests wait to start
    # and every step of theirs is late: a cliff, unlike the ITL's slope (whose quantile below the
    # LIFETIME_AVERAGING calibration already reads at the level the batch settles at).
    feedback = _kv_feedback(perf, rate / engines, mix, running)
    spread = math.sqrt(running * reserve_m2 * mix.burstiness) * feedback
    if running * reserve + z * spread > capacity:
        return math.inf
    # A request's ITL is its mean over its life, about as long as the batch takes to turn over: that
    # average of the batch's KV spreads sqrt(2 / e) as wide as the KV at an instant.
    widening = _unrouted_feedback(feedback, engines)
    return perf.decode.itl_ms(mix.kv_quantile(running, z * LIFETIME_AVERAGING * widening) / capacity, context)


def _unrouted_feedback(feedback: float, engines: int) -> float:
    """How much the KV-ITL loop (`_kv_feedback`) widens an engine's ITL around its level. An engine
    alone takes every arrival however long its batch runs: in full. Beside others, least-loaded
    routing sends new requests elsewhere while its batch runs long and damps the loop, by the
    square of the engines as measured in the simulator (Poisson arrivals at the load where p99 ITL
    meets the target: one engine read 16.0 ms where it served 18.5 (chat) and 19.4 where it served
    23.5 (8k prompts); two read 16.0 for 16.7 and 19.4 for 21.2; three and four were within 2 %.
    Widened so, they read 17.9, 22.1, 16.5 and 20.0.)"""
    return 1.0 + (feedback - 1.0) / engines**2


def decode_engines(perf: PerfModel, rate: float, mix: LengthMix, itl_ms: float, z: float) -> int:
    """Fewest decode engines whose quantile ITL meets the target."""
    if rate <= 0:
        return 0
    engines = 1
    while engines < MAX_ENGINES and decode_itl_quantile_ms(perf, rate, mix, engines, z) > itl_ms:
        engines = engines + 1 if engines < 16 else math.ceil(engines * 1.05)
    return engines


STEP_TOKEN_BUDGET = 8192
"""Prompt tokens an aggregated engine prefills in one step at most (vLLM's chunked-prefill default
`max_num_batched_tokens` on large GPUs): longer prompts take several steps, and decoding continues."""


def _agg_step_s(perf: PerfModel, per_engine_rate: float, mix: LengthMix) -> float:
    """An aggregated engine's steady step time, by fixed point: each step prefills the prompt tokens
    that arrived during the last one and decodes the requests Little's law keeps running at that
    step time. Infinite when the prompts arriving outgrow a step's token budget."""
    context = mix.context
    t = perf.mixed_step_ms(0.0, 1.0, context) / 1000.0
    for _ in range(200):
        prompt_tokens = per_engine_rate * mix.isl * t
        if prompt_tokens > STEP_TOKEN_BUDGET:
            return math.inf
        running = per_engine_rate * max(mix.osl - 1, 1.0) * t
        following = perf.mixed_step_ms(prompt_tokens, running, context) / 1000.0
        if abs(following - t) < 1e-7:
            return following
        t = following
    return t


def agg_latency_quantiles_ms(
    perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float
) -> tuple[float, float]:
    """(TTFT, ITL) at the `z` quantile on `engines` aggregated engines. Steps carry both phases, so a
    request's ITL (its mean gap) is the mean step over its output: prompt chunks averaged over those
    steps (a compound Poisson spread over its lifetime, widened by burstiness) beside the decode batch
    at its quantile; its TTFT is the step under way plus the steps its prompt's chunks take."""
    context = mix.context
    if engines <= 0:
        return math.inf, math.inf
    if rate <= 0:
        own = mix.isl_quantile(z)
        chunks = math.ceil(own / STEP_TOKEN_BUDGET) * perf.mixed_step_ms(min(own, STEP_TOKEN_BUDGET), 0.0, mix.isl)
        return chunks + perf.request_overhead_ms, perf.mixed_step_ms(0.0, 1.0, mix.isl)
    per_engine = rate / engines
    t = _agg_step_s(perf, per_engine, mix)
    if not math.isfinite(t):
        return math.inf, math.inf
    prompt_tokens = per_engine * mix.isl * t
    lifetime_steps = max(mix.osl - 1, 1.0)
    lifetime_spread = z * math.sqrt(per_engine * t * lifetime_steps * mix.isl_second_moment * mix.burstiness)
    chunk = min(STEP_TOKEN_BUDGET, prompt_tokens + lifetime_spread / lifetime_steps)
    running = per_engine * max(mix.osl - 1, 1.0) * t
    kv_tokens = mix.kv_quantile(running, z)
    if kv_tokens > perf.decode.max_kv_tokens:
        return math.inf, math.inf  # requests would wait for cache to start
    batch = kv_tokens / context
    itl = perf.mixed_step_ms(chunk, batch, context)
    own = mix.isl_quantile(z)
    steps = math.ceil((own + prompt_tokens) / STEP_TOKEN_BUDGET)
    chunks = steps * perf.mixed_step_ms(min(STEP_TOKEN_BUDGET, own + prompt_tokens), batch, context)
    return t * 1000.0 + chunks + perf.request_overhead_ms, itl


def agg_engines(perf: PerfModel, rate: float, mix: LengthMix, ttft_ms: float, itl_ms: float, z: float) -> int:
    """Fewest aggregated engines whose quantile TTFT and ITL meet the targets. A target below what an
    idle engine does is met as nearly as engines can: within 20 % of that."""
    if rate <= 0:
        return 0
    idle_ttft, idle_itl = agg_latency_quantiles_ms(perf, 0.0, mix, 1, z)
    ttft_goal, itl_goal = max(ttft_ms, 1.2 * idle_ttft), max(itl_ms, 1.2 * idle_itl)
    context = mix.context
    # No engine prefills faster than a full step's budget per step: a lower bound to start from.
    step_capacity = STEP_TOKEN_BUDGET / (perf.mixed_step_ms(STEP_TOKEN_BUDGET, 0.0, context) / 1000.0)
    engines = max(1, math.floor(rate * mix.isl / step_capacity))
    while engines < MAX_ENGINES:
        ttft, itl = agg_latency_quantiles_ms(perf, rate, mix, engines, z)
        if ttft <= ttft_goal and itl <= itl_goal:
            break
        engines = engines + 1 if engines < 16 else math.ceil(engines * 1.05)
    return engines
