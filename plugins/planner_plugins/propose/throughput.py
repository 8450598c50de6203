"""builtin_throughput_propose: size prefill and decode pools from the predicted load and the perf model."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from planner_sdk import (
    ContextField,
    HoldPolicy,
    PluginSpec,
    ProposePlugin,
    ProposeResult,
    ReplicaCount,
    Role,
    Stage,
    TickContext,
    TrafficObservation,
)

from ..perf import PerfModel
from .queueing import erlang_c, servers_for_wait

__all__ = [
    "SizingSettings",
    "Corrections",
    "ThroughputPropose",
    "dynamo_prefill",
    "dynamo_decode",
    "queue_aware_decode",
]

MIN_REQUESTS_FOR_CORRECTION = 10


@dataclass(frozen=True)
class SizingSettings:
    interval_s: float
    ttft_ms: float
    itl_ms: float
    prefill_gpus: int = 1
    decode_gpus: int = 1
    min_endpoint: Mapping[Role, int] | None = None
    sizing: str = "queue_aware"  # or "dynamo": the mean-rate formula
    quantile: float = 0.95  # share of requests whose queueing must fit the TTFT budget
    hysteresis: float = 0.25  # scale down only when the smaller pool meets a budget this much tighter
    correction: bool = True
    scale_down_stabilization_s: float = 0.0  # propose the largest target of this trailing window
    default_isl: float = 3000.0
    default_osl: float = 150.0


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


def queue_aware_decode(
    perf: PerfModel,
    num: float,
    isl: float,
    osl: float,
    interval_s: float,
    itl_ms: float,
    gpus: int,
    z: float,
    waiting: float = 0.0,
) -> int:
    """Fewest decode engines whose concurrency, at its mean plus `z` standard deviations, still
    decodes within the ITL target and fits the KV cache.

    By Little's law the fleet holds rate * (OSL - 1) * ITL requests decoding at once (taken at the
    target ITL, the most it may be); split over n engines, each sees about that over n, with
    Poisson spread. Sizing to the mean alone (Dynamo's formula) runs every engine at exactly the
    target, so about half the requests miss it.
    """
    if num <= 0 and waiting <= 0:
        return 0
    context = isl + osl / 2
    point = perf.decode.best_operating_point(itl_ms, context)
    per_engine = min(
        point.kv_usage * perf.decode.max_kv_tokens / context,  # ITL limit
        perf.decode.max_kv_tokens / (isl + osl),  # KV reservation limit
    )
    per_engine = max(per_engine, 1.0)
    fleet = num / interval_s * max(osl - 1, 1) * itl_ms / 1000.0 + waiting  # plus requests waiting for KV room
    engines = max(1, math.ceil(fleet / per_engine))
    while True:
        mean = fleet / engines
        if mean + z * math.sqrt(mean) <= per_engine or engines > 4096:
            return math.ceil(engines / gpus) if gpus > 1 else engines
        engines += 1


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


def _z_score(quantile: float) -> float:
    """The standard normal quantile (Acklam's rational approximation is overkill here: bisect)."""
    lo, hi = -8.0, 8.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < quantile:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class ThroughputPropose(ProposePlugin):
    """Turns predictions into replica targets meeting `ttft_ms` and `itl_ms` at the fewest GPUs.

    `sizing="dynamo"` is Dynamo's mean-rate formula. `sizing="queue_aware"` sizes prefill as an
    M/G/c queue: the fewest engines whose queueing delay, for `quantile` of requests, fits
    in the TTFT budget left after the prefill itself, with arrival burstiness estimated from
    how the per-interval counts vary; it scales down only when the smaller pool also meets a
    budget tightened by `hysteresis`, so it does not flap at integer boundaries.
    """

    def __init__(self, perf: PerfModel, settings: SizingSettings, roles: tuple[Role, ...], floor: bool) -> None:
        self.spec = PluginSpec(
            id="builtin_throughput_propose",
            stage=Stage.PROPOSE,
            execution_interval_seconds=settings.interval_s,
            needs=frozenset(
                {ContextField.PREDICTIONS, ContextField.REPLICAS, ContextField.TRAFFIC, ContextField.WORKERS}
            ),
            requires=frozenset({ContextField.PREDICTIONS}),
            hold=HoldPolicy.HOLD_LAST if floor else HoldPolicy.NO_OPINION,
        )
        self.perf, self.settings, self.roles, self.floor = perf, settings, roles, floor
        self.corrections = Corrections()
        self.wait_factor = 1.0
        self._counts: deque[float] = deque(maxlen=20)
        self._recent: deque[tuple[float, dict[Role, int]]] = deque()

    def _burstiness(self) -> float:
        """Index of dispersion of recent per-interval counts (1 for Poisson), bounded to [1, 10]."""
        if len(self._counts) < 3:
            return 1.0
        mean = sum(self._counts) / len(self._counts)
        var = sum((c - mean) ** 2 for c in self._counts) / (len(self._counts) - 1)
        return min(10.0, max(1.0, var / mean)) if mean > 0 else 1.0

    def _stabilised(self, now: float, wanted: dict[Role, int]) -> dict[Role, int]:
        """The largest target of the trailing stabilisation window, per role (as Kubernetes' HPA
        does for scale-down): on-off traffic must not shed engines it needs again before a new
        one could start."""
        window = self.settings.scale_down_stabilization_s
        if window <= 0:
            return wanted
        self._recent.append((now, wanted))
        while self._recent and self._recent[0][0] < now - window:
            self._recent.popleft()
        return {role: max(w.get(role, 0) for _, w in self._recent) for role in wanted}

    def _learn_wait_factor(self, traffic: TrafficObservation, replicas: Mapping[Role, ReplicaCount]) -> None:
        """Observed mean queueing over the M/G/c mean wait for the interval just served."""
        prefill = replicas.get(Role.PREFILL)
        count, isl, ttft = traffic.num_requests or 0.0, traffic.mean_isl, traffic.mean_ttft_ms
        if count < MIN_REQUESTS_FOR_CORRECTION or not isl or not ttft or not prefill or prefill.scaling:
            return
        rate = count / traffic.window_seconds
        service = self.perf.prefill.batch_ms(isl) / 1000.0 * min(1.0, self.corrections.prefill)
        capacity = prefill.ready / service
        if capacity <= rate:
            return  # overloaded: the queue grew without bound, nothing to calibrate against
        variability = (self._burstiness() + 1.0) / 2.0
        model_wait = erlang_c(prefill.ready, rate * service) / (capacity - rate) * variability
        observed_wait = max(0.0, ttft / 1000.0 - service)
        if model_wait <= 1e-6:
            return
        factor = min(max(observed_wait / model_wait, 1.0), 50.0)
        self.wait_factor += 0.5 * (factor - self.wait_factor)

    def _queue_aware_prefill(self, num: float, isl: float, current: int) -> int:
        s = self.settings
        rate = num / s.interval_s
        # Observed TTFT includes queueing, which the queue model adds itself: like Dynamo, only a
        # correction below 1 (prefix-cache hits, a faster engine) shortens the service time. What
        # the M/G/c estimate misses (prompt-length spread, sub-interval bursts) is learnt instead
        # as `wait_factor`: observed queueing over the model's, at the fleet that served it.
        service = self.perf.prefill.batch_ms(isl) / 1000.0 * min(1.0, self.corrections.prefill)
        variability = (self._burstiness() + 1.0) / 2.0 * self.wait_factor  # service SCV taken as 1
        budget = s.ttft_ms / 1000.0 - service
        needed = servers_for_wait(rate, service, budget, s.quantile, variability)
        if needed < current:
            tight = servers_for_wait(rate, service, budget * (1 - s.hysteresis), s.quantile, variability)
            needed = max(needed, min(current, tight))
        return needed

    def size(
        self, num: float, isl: float, osl: float, current: Mapping[Role, int], decode_waiting: float = 0.0
    ) -> dict[Role, int]:
        """Replica targets for the predicted load, before the change cap and min endpoints."""
        s, perf = self.settings, self.perf
        itl_target = s.itl_ms / self.corrections.decode
        if s.sizing == "queue_aware":
            prefill = self._queue_aware_prefill(num, isl, current.get(Role.PREFILL, 0))
        else:
            prefill = dynamo_prefill(perf, num, isl, s.interval_s, self.corrections.prefill, s.prefill_gpus)
        if s.sizing == "queue_aware":
            z = _z_score(s.quantile)
            decode = queue_aware_decode(perf, num, isl, osl, s.interval_s, itl_target, s.decode_gpus, z, decode_waiting)
            if decode < current.get(Role.DECODE, 0):
                tighter = queue_aware_decode(
                    perf, num, isl, osl, s.interval_s, itl_target * (1 - s.hysteresis), s.decode_gpus, z
                )
                decode = max(decode, min(current[Role.DECODE], tighter))
        else:
            decode = dynamo_decode(perf, num, isl, osl, s.interval_s, itl_target, s.decode_gpus)
        if Role.AGG in self.roles:
            # One engine does both: time-share its capacity between the two phases.
            prefill_share = num * isl / s.interval_s / perf.prefill.throughput_per_gpu(isl) if num else 0.0
            point = perf.decode.best_operating_point(itl_target, isl + osl / 2)
            decode_share = num * osl / s.interval_s / point.throughput_per_gpu if num else 0.0
            return {Role.AGG: math.ceil((prefill_share + decode_share) / s.decode_gpus)}
        return {role: n for role, n in ((Role.PREFILL, prefill), (Role.DECODE, decode)) if role in self.roles}

    def propose(self, ctx: TickContext) -> ProposeResult:
        s = self.settings
        predictions = ctx.predictions
        if predictions.num_requests is None:
            return ProposeResult.accept("no request forecast yet")
        num = predictions.num_requests
        isl = predictions.isl or s.default_isl
        osl = predictions.osl or s.default_osl
        replicas = ctx.replicas or {}
        traffic = ctx.observations.traffic
        if traffic is not None and s.correction:
            self.corrections.update(self.perf, traffic, replicas)
            if s.sizing == "queue_aware":
                self._learn_wait_factor(traffic, replicas)
        if traffic is not None and traffic.num_requests is not None:
            self._counts.append(traffic.num_requests * s.interval_s / traffic.window_seconds)
        current = {role: count.expected for role, count in replicas.items()}
        waiting = 0.0
        if s.sizing == "queue_aware":
            # Work a burst left behind must be served within the next interval too: the mean-rate
            # view alone never drains a backlog. Prompts queued for prefill count as extra requests;
            # requests waiting for decode KV room as extra concurrency.
            workers = ctx.observations.workers or ()
            backlog = sum(w.queued_prefill_tokens or 0.0 for w in workers if w.role is Role.PREFILL)
            num += backlog / isl if isl > 0 else 0.0
            queued_kv = sum(w.queued_kv_tokens or 0.0 for w in workers if w.role is Role.DECODE)
            waiting = queued_kv / (isl + osl) if isl + osl > 0 else 0.0
        wanted = self._stabilised(ctx.now, self.size(num, isl, osl, current, waiting))
        # The change cap and the GPU budget are safety's (recorded as cuts); the floor is applied
        # here too so a proposal never reads below what the deployment must keep.
        targets = {role: max(n, (s.min_endpoint or {}).get(role, 0)) for role, n in wanted.items()}
        reason = (
            f"{s.sizing}: {num:.0f} req/{s.interval_s:g}s, ISL {isl:.0f}, OSL {osl:.0f}, "
            f"corrections prefill {self.corrections.prefill:.2f} decode {self.corrections.decode:.2f}"
        )
        return ProposeResult.at_least(targets, reason) if self.floor else ProposeResult.set(targets, reason=reason)
