"""Quantile sizing from the engine model: prefill passes, decode batches, aggregated engines' mixed steps."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from ..perf import PerfModel
from .burstiness import bursty_share
from .queueing import erlang_c, normal_quantile, wait_tail

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

    # A running batch holds each request for as long as it decodes, so its outputs are weighted by
    # their length: a batch's mean output is OSL (1 + cv^2), its second moment OSL^2 (1 + cv^2)(1 + 2 cv^2)
    # (a gamma's; a lognormal's third moment overstates heavy-tailed outputs by half and more).

    @property
    def _batch_osl(self) -> float:
        return self.osl * (1.0 + self.osl_cv**2)

    @property
    def _batch_osl_m2(self) -> float:
        return self.osl**2 * (1.0 + self.osl_cv**2) * (1.0 + 2.0 * self.osl_cv**2)

    @property
    def context(self) -> float:
        """A running batch's mean context per request: a prompt and half an output, outputs weighted
        by how long they keep a request in the batch."""
        return self.isl + self._batch_osl / 2

    @property
    def reserve(self) -> float:
        """A running batch's mean KV reservation per request: its prompt and its whole output."""
        return self.isl + self._batch_osl

    @property
    def reserve_second_moment(self) -> float:
        return self.isl_second_moment + 2 * self.isl * self._batch_osl + self._batch_osl_m2

    def kv_quantile(self, running: float, z: float) -> float:
        """Tokens `running` decoding requests hold at the `z` quantile: a compound Poisson sum of their
        contexts (prompt + a uniform share of the output), widened by the arrivals' burstiness."""
        context_m2 = self.isl_second_moment + self.isl * self._batch_osl + self._batch_osl_m2 / 3
        return running * self.context + z * math.sqrt(running * context_m2 * self.burstiness)

    def isl_quantile(self, z: float) -> float:
        """A lognormal quantile with this mean and spread."""
        sigma = math.sqrt(math.log1p(self.isl_cv**2))
        return self.isl * math.exp(z * sigma - sigma**2 / 2)


def _pass_ms(perf: PerfModel, tokens: float) -> float:
    return perf.prefill.batch_ms(max(tokens, 1.0))


def prefill_ttft_quantile_ms(
    perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float, transfer_ms_per_token: float = 0.0
) -> float:
    """TTFT at the `z` quantile on `engines` prefill engines fed `rate` requests/s between them, each
    first token also waiting out its prompt's KV transfer to decode (`transfer_ms_per_token`).

    An engine prefills what queued during its previous pass in one batched pass, so in steady state
    a pass lasts T = pass_ms(tokens arriving in T): solved by fixed point, infinite when the engine
    cannot keep up. A request waits out the pass under way, then its own: the quantile is two passes
    holding the mean tokens plus `z` standard deviations of a compound Poisson count, and never
    less than the M/G/c view of prompts that hold an engine for passes on end (`_queued_ms`).
    """
    if engines <= 0:
        return math.inf
    own = _OwnTime(perf, mix, transfer_ms_per_token)
    if rate <= 0:
        return own.quantile_ms(z)
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
    # Two whole passes already bound a short prompt's wait for the pass under way (half of one on
    # average) and its own, with room for its transfer: the transfer counts where prompts are long.
    return max(2.0 * busy, _queued_ms(perf, rate, mix, engines, z, own))


class _OwnTime:
    """A prompt's own time to first token on an idle engine: its chunked passes at the profile's
    long-prompt speed, the pass's fixed cost, and its KV transfer. Affine in the prompt's length,
    so lognormal lengths give its distribution."""

    def __init__(self, perf: PerfModel, mix: LengthMix, transfer_ms_per_token: float) -> None:
        self.mix = mix
        self.per_token_s = 1.0 / perf.prefill.engine_throughput(perf.prefill.max_isl) + transfer_ms_per_token / 1000.0
        self.fixed_s = _pass_ms(perf, 1.0) / 1000.0
        self.sigma = math.sqrt(math.log1p(mix.isl_cv**2))

    def quantile_ms(self, z: float) -> float:
        return (self.mix.isl_quantile(z) * self.per_token_s + self.fixed_s) * 1000.0

    def exceeds(self, t: float) -> float:
        """P(own time > t seconds)."""
        length = (t - self.fixed_s) / self.per_token_s
        if length <= 0 or self.sigma <= 0:
            return 1.0 if length < self.mix.isl else 0.0
        log_median = math.log(self.mix.isl) - self.sigma**2 / 2
        return 0.5 * math.erfc((math.log(length) - log_median) / (self.sigma * math.sqrt(2)))

    def points(self) -> list[float]:
        """Equal-probability quantiles (seconds) of the own time."""
        return [self.mix.isl_quantile(z) * self.per_token_s + self.fixed_s for z in _LENGTH_ZS]


SERVICE_POINTS = 16  # prompt lengths the mean service time is averaged over (equal-probability quantiles)
LENGTH_POINTS = 64  # and the own time's distribution, where a wait is added to it
_SERVICE_ZS = tuple(normal_quantile((i + 0.5) / SERVICE_POINTS) for i in range(SERVICE_POINTS))
_LENGTH_ZS = tuple(normal_quantile((i + 0.5) / LENGTH_POINTS) for i in range(LENGTH_POINTS))


def _service_s(perf: PerfModel, rate: float, mix: LengthMix, engines: int) -> float:
    """Mean seconds of engine time a prompt takes: its length over the speed of the pass it runs in,
    averaged over the lognormal spread of lengths.

    A short prompt packed with others runs at the speed of a pass at least its own length: at best
    the best such speed, but where prompts queue, passes fill up towards the longest the profile
    covers (short of it by half a prompt on average) and run at that length's speed (below the
    peak, which is near 7k tokens). So the speed falls from the best to the packed pass's as the
    chance a prompt waits (Erlang C) grows, by fixed point. (At the best speed alone, 4 engines at
    20 req/s of 8k prompts read 909 ms where they serve 1270-1344.) A long prompt runs alone, at
    its own length's speed."""
    prefill = perf.prefill
    # The best speed from each profiled length up: a suffix maximum, looked up per prompt.
    best_from = list(prefill.thpt)
    for i in range(len(best_from) - 2, -1, -1):
        best_from[i] = max(best_from[i], best_from[i + 1])
    packed = prefill.max_isl - mix.isl / 2  # a full pass, less the prompt that did not fit, on average
    best = full = 0.0
    for z in _SERVICE_ZS:
        length = mix.isl_quantile(z)
        k = bisect.bisect_left(prefill.isl, length)
        own = prefill.throughput_per_gpu(length)
        best += length / (max(own, best_from[k] if k < len(best_from) else 0.0) * prefill.gpus_per_engine)
        full += length / (prefill.throughput_per_gpu(max(length, packed)) * prefill.gpus_per_engine)
    best, full = best / SERVICE_POINTS, full / SERVICE_POINTS
    service = best
    for _ in range(8):
        service = best + erlang_c(engines, rate * service) * (full - best)
    return service


def _queued_ms(perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float, own: _OwnTime) -> float:
    """The M/G/c view, for long prompts that hold an engine for passes on end: each request is a job
    of `_service_s` that waits (Allen-Cunneen: the arrivals' burstiness as ca^2, the prompt
    lengths' spread as cs^2), then takes its own time.

    On Poisson-like arrivals wait and own time are independent: the quantile is their sum's,
    P(wait + own > t) = P(own > t) + E[C exp(-r (t - own)); own <= t], solved for t. (Adding the two
    quantiles instead overstates it: 3 engines at 5 req/s of 16k prompts read 1641 ms where they
    serve 1336-1420.) Bursty arrivals bring long prompts together (a session's turns, a batch job),
    so a long prompt waits behind long ones: their quantile moves towards the sum of the two
    quantiles, the bound when wait and own time rise together, by `bursty_share`."""
    service = _service_s(perf, rate, mix, engines)
    quantile = 0.5 * math.erfc(-z / math.sqrt(2))
    variability = (mix.burstiness + mix.isl_cv**2) / 2.0
    waits, decay = wait_tail(engines, rate, service, variability)
    if decay <= 0:
        return math.inf
    tail = 1.0 - quantile
    own_quantile = own.quantile_ms(z) / 1000.0
    comonotone = own_quantile + (math.log(waits / tail) / decay if waits > tail else 0.0)
    share = bursty_share(mix.burstiness)
    if share >= 1.0 or waits <= 0:
        return (comonotone if share >= 1.0 else own_quantile) * 1000.0
    points = own.points()

    def exceeds(t: float) -> float:
        waited = sum(math.exp(-decay * (t - s)) for s in points if s <= t) / LENGTH_POINTS
        return own.exceeds(t) + waits * waited

    # P(wait + own > t) <= P(own > t - x) + P(wait > x): with each half the tail, an upper bound.
    half_z = normal_quantile(1.0 - tail / 2)
    lo, hi = 0.0, own.quantile_ms(half_z) / 1000.0 + max(0.0, math.log(2 * waits / tail) / decay)
    for _ in range(40):
        mid = (lo + hi) / 2
        if exceeds(mid) > tail:
            lo = mid
        else:
            hi = mid
    return (hi + share * (comonotone - hi)) * 1000.0


def prefill_engines(
    perf: PerfModel, rate: float, mix: LengthMix, ttft_ms: float, z: float, transfer_ms_per_token: float = 0.0
) -> int:
    """Fewest prefill engines whose quantile TTFT meets the target. A target below what an idle
    engine does for the quantile prompt is met as nearly as engines can: within 20 % of that."""
    if rate <= 0:
        return 0
    own = _OwnTime(perf, mix, transfer_ms_per_token).quantile_ms(z)
    best_possible = max(2.0 * _pass_ms(perf, 1.0), own)  # as engines grow without end
    goal = max(ttft_ms, 1.2 * best_possible)
    capacity = perf.prefill.engine_throughput(perf.prefill.max_isl)
    engines = max(1, math.floor(rate * mix.isl / capacity))
    while engines < MAX_ENGINES and prefill_ttft_quantile_ms(perf, rate, mix, engines, z, transfer_ms_per_token) > goal:
        engines += 1
    return engines


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
