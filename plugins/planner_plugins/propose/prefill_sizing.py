"""Prefill sizing: a prompt's TTFT as its wait for an engine plus its own pass, at a quantile."""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable

from ..perf import PerfModel, PrefillModel
from .burstiness import bursty_share
from .lengths import MAX_ENGINES, LengthMix
from .queueing import erlang_c, normal_quantile, wait_tail

__all__ = ["prefill_engines", "prefill_ttft_quantile_ms"]


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
        self.transfer_s = transfer_ms_per_token / 1000.0
        self.per_token_s = 1.0 / perf.prefill.engine_throughput(perf.prefill.max_isl) + self.transfer_s
        self.fixed_s = _pass_ms(perf, 1.0) / 1000.0
        self.sigma = math.sqrt(math.log1p(mix.isl_cv**2))

    @functools.cached_property
    def lengths(self) -> list[float]:
        """Equal-probability quantiles of the prompt length (only the M/G/c view reads them)."""
        return [self.mix.isl_quantile(z) for z in _LENGTH_ZS]

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
        return [length * self.per_token_s + self.fixed_s for length in self.lengths]

    def packed_points(self, perf: PerfModel, others: float) -> list[float]:
        """`points` for prompts that waited: each is prefilled in one pass with `others` tokens queued
        beside it, as many as fit in the longest pass the profile covers, and is done when that pass is."""
        cap = perf.prefill.max_isl
        points = []
        for length, alone in zip(self.lengths, self.points(), strict=True):
            tokens = max(length, min(length + others, cap))
            points.append(max(alone, _pass_ms(perf, tokens) / 1000.0 + length * self.transfer_s))
        return points


SERVICE_POINTS = 16  # prompt lengths the mean service time is averaged over (equal-probability quantiles)
LENGTH_POINTS = 64  # and the own time's distribution, where a wait is added to it
PACKED_POINTS = 8  # and the lengths a full pass may have, between the longest less a prompt and the longest
_SERVICE_ZS = tuple(normal_quantile((i + 0.5) / SERVICE_POINTS) for i in range(SERVICE_POINTS))
_LENGTH_ZS = tuple(normal_quantile((i + 0.5) / LENGTH_POINTS) for i in range(LENGTH_POINTS))


@functools.lru_cache(maxsize=64)
def _pass_speeds(prefill: PrefillModel, isl: float, isl_cv: float) -> tuple[float, float]:
    """(best, full): a prompt's mean engine seconds at the best pass speed it can share and in full
    passes (see `_service_s`); the same for every rate, so a sizing's many calls share them."""
    mix = LengthMix(isl, 1.0, isl_cv)
    # The best speed from each profiled length up: a suffix maximum, looked up per prompt.
    best_from = list(prefill.thpt)
    for i in range(len(best_from) - 2, -1, -1):
        best_from[i] = max(best_from[i], best_from[i + 1])
    shortest = max(0.0, prefill.max_isl - isl)
    passes = [shortest + (prefill.max_isl - shortest) * (i + 0.5) / PACKED_POINTS for i in range(PACKED_POINTS)]
    best = full = 0.0
    for z in _SERVICE_ZS:
        length = mix.isl_quantile(z)
        k = bisect.bisect_left(prefill.isl, length)
        own = prefill.throughput_per_gpu(length)
        best += length / (max(own, best_from[k] if k < len(best_from) else 0.0) * prefill.gpus_per_engine)
        full += sum(length / prefill.throughput_per_gpu(max(length, tokens)) for tokens in passes) / (
            PACKED_POINTS * prefill.gpus_per_engine
        )
    return best / SERVICE_POINTS, full / SERVICE_POINTS


def _service_s(perf: PerfModel, rate: float, mix: LengthMix, engines: int) -> float:
    """Mean seconds of engine time a prompt takes: its length over the speed of the pass it runs in,
    averaged over the lognormal spread of lengths.

    A short prompt packed with others runs at the speed of a pass at least its own length: at best
    the best such speed, but where prompts queue, passes fill up towards the longest the profile
    covers and run at that speed (below the peak, which is near 7k tokens). So the speed falls from
    the best to the full pass's as the chance a prompt waits (Erlang C) grows, by fixed point. (At
    the best speed alone, 4 engines at 20 req/s of 8k prompts read 909 ms where they serve
    1270-1344.) A full pass falls short of the longest by anything from nothing to a prompt that did
    not fit: its speed is averaged over those lengths, not read at the middle one (the profile's
    speed wiggles by 5 % from one length to the next; read at one, 8k prompts were modelled 2 %
    faster than the simulator's busy share says they ran, and near capacity the wait's tail reads
    that tenfold). A long prompt runs alone, at its own length's speed."""
    best, full = _pass_speeds(perf.prefill, mix.isl, mix.isl_cv)
    service = best
    for _ in range(8):
        service = best + erlang_c(engines, rate * service) * (full - best)
    return service


def _packed_tokens(perf: PerfModel, per_engine_rate: float, mix: LengthMix) -> float:
    """Tokens prefilled beside a prompt that waited, in its pass, on average: those that arrive after it
    while it waits out the pass under way (half of it, on average; the prompts that came before it
    are the M/G/c wait's already), that pass as long as the one they make together (a fixed point,
    up to the longest pass the profile covers)."""
    cap = max(mix.isl, perf.prefill.max_isl)
    tokens = mix.isl
    for _ in range(50):
        following = min(cap, mix.isl + per_engine_rate * mix.isl * _pass_ms(perf, tokens) / 2000.0)
        if abs(following - tokens) < 1.0:
            break
        tokens = following
    return tokens - mix.isl


def _queued_ms(perf: PerfModel, rate: float, mix: LengthMix, engines: int, z: float, own: _OwnTime) -> float:
    """The M/G/c view, for long prompts that hold an engine for passes on end: each request is a job
    of `_service_s` that waits (Allen-Cunneen: the arrivals' burstiness as ca^2, the prompt
    lengths' spread as cs^2), then takes its own time. A prompt that waited is prefilled in one pass
    with those that queued beside it (`_packed_tokens`), and its own time is that pass's: 8k prompts
    pair up near capacity, and each of a pair waits for both. (Poisson arrivals of 8k prompts, p99
    TTFT read against the simulator's: 4 engines at 20 req/s read 1011 ms where they served 1320,
    now 1180; at 18 req/s 745 for 864, now 814; 2 engines at 10 req/s 1820 for 1966, now 2121; one
    engine at 5 req/s, 3510 for 3524, now 4068: alone, it pairs fewer prompts than this says.)

    On Poisson-like arrivals wait and own time are independent: the quantile is their sum's,
    P(wait + own > t) = (1 - C) P(alone > t) + C (P(packed > t) + E[exp(-r (t - packed)); packed <= t]),
    solved for t. (Adding the two quantiles instead overstates it: 3 engines at 5 req/s of 16k
    prompts read 1641 ms where they serve 1336-1420.) Bursty arrivals bring long prompts together (a
    session's turns, a batch job), so a long prompt waits behind long ones: their quantile moves
    towards the sum of the two quantiles, the bound when wait and own time rise together, by
    `bursty_share`."""
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
    packed = own.packed_points(perf, _packed_tokens(perf, rate / engines, mix))

    def packed_exceeds(t: float) -> float:
        # The points are equal-probability quantiles, longer with the length: read between them.
        i = bisect.bisect_right(packed, t)
        if i == 0:
            return 1.0
        if i == LENGTH_POINTS:
            return own.exceeds(t)  # beyond the longest point a prompt runs alone
        s0, s1 = packed[i - 1], packed[i]
        between = (t - s0) / (s1 - s0) if s1 > s0 else 1.0
        return 1.0 - (i - 0.5 + between) / LENGTH_POINTS

    def exceeds(t: float) -> float:
        waited = sum(math.exp(-decay * (t - s)) for s in packed if s <= t) / LENGTH_POINTS
        return (1.0 - waits) * own.exceeds(t) + waits * (packed_exceeds(t) + waited)

    # P(wait + own > t) <= P(own > t - x) + P(wait > x): with each half the tail, an upper bound.
    half_z = normal_quantile(1.0 - tail / 2)
    bound = max(own.quantile_ms(half_z) / 1000.0, packed[-1]) + max(0.0, math.log(2 * waits / tail) / decay)
    hi = _solve_exceeds(exceeds, tail, bound)
    return (hi + share * (comonotone - hi)) * 1000.0


def _solve_exceeds(exceeds: Callable[[float], float], tail: float, hi: float) -> float:
    """The least t (seconds, by bisection from `hi` down) with exceeds(t) <= tail, for a decreasing `exceeds`."""
    lo = 0.0
    while exceeds(hi) > tail and hi < 3600.0:
        hi *= 2.0
    for _ in range(32):  # to within a few billionths of the bound
        mid = (lo + hi) / 2
        if exceeds(mid) > tail:
            lo = mid
        else:
            hi = mid
    return hi


@functools.lru_cache(maxsize=256)
def prefill_engines(
    perf: PerfModel, rate: float, mix: LengthMix, ttft_ms: float, z: float, transfer_ms_per_token: float = 0.0
) -> int:
    """Fewest prefill engines whose quantile TTFT meets the target. A target below what an idle
    engine does for the quantile prompt is met as nearly as engines can: within 20 % of that.
    Remembered: a decision sizes the same load for several intervals of a flat forecast."""
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
