"""Dynamo's mean-rate sizing: its prefill and decode formulas and its observed/modelled correction factors."""

from __future__ import annotations

import math
from collections.abc import Mapping

from planner_sdk import ReplicaCount, Role, TrafficObservation

from ..perf import PerfModel

__all__ = ["MIN_REQUESTS_FOR_CORRECTION", "Corrections", "dynamo_prefill", "dynamo_decode"]

MIN_REQUESTS_FOR_CORRECTION = 10


def dynamo_prefill(perf: PerfModel, num: float, isl: float, interval_s: float, correction: float, gpus: int) -> int:
    """Dynamo's prefill formula: ceil(requests * ISL / interval * min(1, correction) / throughput / GPUs)."""
    load = num * isl / interval_s * min(1.0, correction)
    return math.ceil(load / perf.prefill.throughput_per_gpu(isl) / gpus) if load > 0 else 0


def dynamo_decode(
    perf: PerfModel, num: float, isl: float, osl: float, interval_s: float, itl_ms: float, gpus: int
) -> int:
    """Dynamo's decode formula: the best throughput per GPU meeting the ITL at context ISL + OSL/2."""
    if num <= 0:
        return 0
    point = perf.decode.best_operating_point(itl_ms, isl + osl / 2)
    return math.ceil(num * osl / interval_s / point.throughput_per_gpu / gpus)


class Corrections:
    """Observed over modelled latency, smoothed; ignores quiet intervals and intervals while scaling."""

    def __init__(self, smoothing: float = 0.5, bounds: tuple[float, float] = (0.25, 4.0)) -> None:
        self.prefill = 1.0
        self.decode = 1.0
        self.smoothing, self.bounds = smoothing, bounds

    def _blend(self, old: float, observed: float) -> float:
        value = old + self.smoothing * (observed - old)
        return min(max(value, self.bounds[0]), self.bounds[1])

    def update(self, perf: PerfModel, traffic: TrafficObservation, replicas: Mapping[Role, ReplicaCount]) -> None:
        if (traffic.num_requests or 0) < MIN_REQUESTS_FOR_CORRECTION or any(c.scaling for c in replicas.values()):
            return
        isl, osl = traffic.mean_isl, traffic.mean_osl
        if traffic.mean_ttft_ms and isl:
            self.prefill = self._blend(self.prefill, traffic.mean_ttft_ms / perf.prefill.ttft_ms(isl))
        decode = replicas.get(Role.DECODE)
        if traffic.mean_itl_ms and isl and osl and decode and decode.ready:
            # Little's law: requests decoding per engine = rate * OSL * ITL / engines.
            rate = (traffic.num_requests or 0.0) / traffic.window_seconds
            context = isl + osl / 2
            running = rate * osl * traffic.mean_itl_ms / 1000.0 / decode.ready
            kv = running * context / perf.decode.max_kv_tokens
            self.decode = self._blend(self.decode, traffic.mean_itl_ms / perf.decode.itl_ms(kv, context))
