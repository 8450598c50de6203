"""builtin_load_propose: the fast loop. Moves each role by one engine from what the workers report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner_sdk import (
    ContextField,
    PluginSpec,
    ProposePlugin,
    ProposeResult,
    ReplicaCount,
    Role,
    Stage,
    TickContext,
    WorkerLoad,
)

from .latency_model import LatencyModel

__all__ = ["LoadThresholds", "PRESETS", "SlaLoadSettings", "LoadPropose", "decide_role"]


@dataclass(frozen=True)
class LoadThresholds:
    """Scale-up and scale-down edges. Prefill: queued prefill tokens as a multiple of the engine's
    context length; decode: KV utilisation counting queued tokens (1.0 = a full cache)."""

    prefill_up: float
    prefill_down: float
    decode_up: float
    decode_down: float

    def __post_init__(self) -> None:
        if not self.prefill_up > self.prefill_down or not self.decode_up > self.decode_down:
            raise ValueError(f"scale-up thresholds must exceed scale-down thresholds: {self}")


PRESETS: Mapping[str, LoadThresholds] = {
    "throughput": LoadThresholds(prefill_up=1.0, prefill_down=0.1, decode_up=1.0, decode_down=0.6),
    "latency": LoadThresholds(prefill_up=0.1, prefill_down=0.0, decode_up=0.4, decode_down=0.1),
}


@dataclass(frozen=True)
class SlaLoadSettings:
    """The `sla` target of the load loop: latency models per role against TTFT / ITL targets."""

    ttft_ms: float
    itl_ms: float
    sensitivity: int = 80  # 0: never scale down .. 100: survivors may run right up to the target
    max_samples: int = 64
    buckets: int = 16


def _prefill_pressure(worker: WorkerLoad, context_length: float) -> float | None:
    if worker.queued_prefill_tokens is None:
        return None
    return worker.queued_prefill_tokens / context_length


def _decode_pressure(worker: WorkerLoad) -> float | None:
    if worker.scheduled_kv_tokens is None or not worker.max_kv_tokens:
        return None
    return (worker.scheduled_kv_tokens + (worker.queued_kv_tokens or 0.0)) / worker.max_kv_tokens


def _latency_sample(role: Role, worker: WorkerLoad) -> tuple[float, float] | None:
    """(load, latency ms) for the role's model: queued prefill tokens -> TTFT; KV tokens -> ITL."""
    if role is Role.PREFILL:
        load, latency = worker.queued_prefill_tokens, worker.recent_ttft_ms
    else:
        load = (
            None if worker.scheduled_kv_tokens is None else worker.scheduled_kv_tokens + (worker.queued_kv_tokens or 0)
        )
        latency = worker.recent_itl_ms if worker.recent_itl_ms is not None else worker.forward_pass_ms
    return None if load is None or latency is None else (load, latency)


def decide_role(pressures: Sequence[float], up: float, down: float) -> tuple[int, str]:
    """+1 when any engine is at or past `up`, -1 when every engine is under `down` (or, for a
    zero `down`, at zero), else 0."""
    if not pressures:
        return 0, "no_worker_metrics"
    if any(p >= up for p in pressures):
        return 1, "scale_up"
    if all(p < down or p == down == 0 for p in pressures):
        return -1, "scale_down"
    return 0, "no_change"


class LoadPropose(ProposePlugin):
    """Reactive ±1 scaling from per-worker queue and KV-cache signals (the threshold presets).

    Holds still while a scaling action is in progress (ready != expected), unless capacity has
    been pending longer than `pending_timeout_s` (a worker stuck without a GPU must not freeze
    the loop); acts only after `min_observations` ticks with worker metrics.
    """

    def __init__(
        self,
        thresholds: LoadThresholds | SlaLoadSettings,
        roles: tuple[Role, ...],
        interval_s: float,
        context_length: float,
        min_observations: int = 5,
        pending_timeout_s: float = 600.0,
    ) -> None:
        self.spec = PluginSpec(
            id="builtin_load_propose",
            stage=Stage.PROPOSE,
            execution_interval_seconds=interval_s,
            needs=frozenset({ContextField.WORKERS, ContextField.REPLICAS}),
        )
        self.thresholds, self.roles = thresholds, roles
        self.context_length = context_length
        self.min_observations, self.pending_timeout_s = min_observations, pending_timeout_s
        self.observations = 0
        self._pending_since: dict[Role, float] = {}
        self.last_reasons: dict[Role, str] = {}
        self.models: dict[Role, LatencyModel] = {}
        if isinstance(thresholds, SlaLoadSettings):
            for role in roles:
                self.models[role] = LatencyModel(thresholds.max_samples, thresholds.buckets, min_observations)

    def _sla_step(self, role: Role, workers: list[WorkerLoad]) -> tuple[int, str]:
        """+1 when every engine's latency estimate misses the target; -1 only when the survivors,
        carrying N/(N-1) of today's load, would still meet it (scaled by the sensitivity)."""
        settings = self.thresholds
        assert isinstance(settings, SlaLoadSettings)
        model = self.models[role]
        samples = [_latency_sample(role, w) for w in workers]
        for sample in samples:
            if sample is not None:
                model.add(*sample)
        loads = [s[0] for s in samples if s is not None]
        if not loads:
            return 0, "no_worker_metrics"
        if not model.fit():
            return 0, "insufficient_data"
        target = settings.ttft_ms if role is Role.PREFILL else settings.itl_ms
        limit = model.load_for(target)
        if all(load > limit for load in loads):
            return 1, "scale_up"
        n = len(loads)
        if n > 1 and all(load < limit for load in loads):
            consolidated = [load * n / (n - 1) for load in loads]
            if all(load < limit * settings.sensitivity / 100 for load in consolidated):
                return -1, "scale_down"
            return 0, "scale_down_refused_consolidation"
        return 0, "no_change"

    def _pending(self, role: Role, count: ReplicaCount, now: float) -> str | None:
        """`scaling_in_progress` while engines start; `pending_timed_out` once they have been
        pending past the timeout (a worker stuck without a GPU): then the loop acts again."""
        if not count.scaling:
            self._pending_since.pop(role, None)
            return None
        since = self._pending_since.setdefault(role, now)
        return "scaling_in_progress" if now - since < self.pending_timeout_s else "pending_timed_out"

    async def propose(self, ctx: TickContext) -> ProposeResult:
        workers = [w for w in ctx.observations.workers or () if not w.missing]
        replicas = ctx.replicas or {}
        if not workers:
            self.last_reasons = {role: "no_worker_metrics" for role in self.roles}
            return ProposeResult.accept("no_worker_metrics")
        self.observations += 1
        if self.observations < self.min_observations:
            self.last_reasons = {role: "insufficient_data" for role in self.roles}
            return ProposeResult.accept("insufficient_data")
        t = self.thresholds
        targets: dict[Role, int] = {}
        reasons: dict[Role, str] = {}
        for role in self.roles:
            count = replicas.get(role)
            if count is None:
                continue
            pending = self._pending(role, count, ctx.now)
            if pending == "scaling_in_progress":
                reasons[role] = pending
                continue
            mine = [w for w in workers if w.role is role]
            if isinstance(t, SlaLoadSettings):
                step, reason = self._sla_step(role, mine)
            elif role is Role.PREFILL:
                pressures = [p for w in mine if (p := _prefill_pressure(w, self.context_length)) is not None]
                step, reason = decide_role(pressures, t.prefill_up, t.prefill_down)
            else:
                pressures = [p for w in mine if (p := _decode_pressure(w)) is not None]
                step, reason = decide_role(pressures, t.decode_up, t.decode_down)
            reasons[role] = reason if pending is None else f"{reason} ({pending})"
            if step:
                targets[role] = max(0, count.expected + step)
        self.last_reasons = reasons
        summary = ", ".join(f"{role.value}: {reason}" for role, reason in reasons.items())
        return ProposeResult.set(targets, reason=summary) if targets else ProposeResult.accept(summary)
