"""How far a modelled engine is from a measured one: TTFT at the profile's input lengths, ITL at its
decode operating points, and the KV capacity."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from .model import PerfModel
from .profile import EngineProfile

__all__ = ["CrossCheck", "CrossCheckPoint", "cross_check", "cross_check_at"]


@dataclass(frozen=True)
class CrossCheckPoint:
    """One operating point: what was measured, what the model says, and the relative error."""

    what: str  # "ttft" or "itl"
    isl: float  # the prompt (ttft) or the context (itl), tokens
    kv_tokens: float  # tokens held in the KV cache (itl); 0 for ttft
    measured_ms: float
    modelled_ms: float

    @property
    def error(self) -> float:
        """(modelled - measured) / measured: positive where the model is slower than the engine."""
        return self.modelled_ms / self.measured_ms - 1.0


@dataclass(frozen=True)
class CrossCheck:
    points: list[CrossCheckPoint]
    measured_kv_tokens: int
    modelled_kv_tokens: int

    def of(self, what: str) -> list[CrossCheckPoint]:
        return [p for p in self.points if p.what == what]

    def median_abs_error(self, what: str) -> float:
        return statistics.median(abs(p.error) for p in self.of(what))

    @property
    def kv_error(self) -> float:
        return self.modelled_kv_tokens / self.measured_kv_tokens - 1.0


def cross_check(measured: EngineProfile, modelled: PerfModel) -> CrossCheck:
    """Compare at the measured points. Decode points are matched by the tokens in the cache (the
    same batch of the same contexts), not by the share of it: the two caches differ in size."""
    points = [
        CrossCheckPoint("ttft", float(isl), 0.0, float(ttft), modelled.prefill.ttft_ms(float(isl)))
        for isl, ttft in zip(measured.prefill.isl, measured.prefill.ttft_ms, strict=True)
    ]
    decode = measured.decode
    capacity = modelled.decode.max_kv_tokens
    for kv, context, itl in zip(decode.kv_usage, decode.context_length, decode.itl_ms, strict=True):
        tokens = float(kv) * decode.max_kv_tokens
        if tokens > capacity:  # a load the modelled engine cannot hold: no like-for-like point
            continue
        predicted = modelled.decode.itl_ms(tokens / capacity, float(context))
        points.append(CrossCheckPoint("itl", float(context), tokens, float(itl), predicted))
    return CrossCheck(points, decode.max_kv_tokens, capacity)


def cross_check_at(
    truth: PerfModel, modelled: PerfModel, isls: Iterable[float], context: float, kv_usages: Iterable[float]
) -> CrossCheck:
    """Compare two models where a traffic runs them: TTFT at its prompt lengths, ITL at its context
    over a range of the true engine's KV usage (matched by the tokens in the cache, as above)."""
    points = [
        CrossCheckPoint("ttft", isl, 0.0, truth.prefill.ttft_ms(isl), modelled.prefill.ttft_ms(isl)) for isl in isls
    ]
    capacity = modelled.decode.max_kv_tokens
    for usage in kv_usages:
        tokens = usage * truth.decode.max_kv_tokens
        if tokens <= capacity:
            measured = truth.decode.itl_ms(usage, context)
            points.append(
                CrossCheckPoint("itl", context, tokens, measured, modelled.decode.itl_ms(tokens / capacity, context))
            )
    return CrossCheck(points, truth.decode.max_kv_tokens, capacity)
