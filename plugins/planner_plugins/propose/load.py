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

__all__ = ["LoadThresholds", "PRESETS", "LoadPropose", "decide_role"]


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


def _prefill_pressure(worker: WorkerLoad, context_length: float) -> float | None:
    if worker.queued_prefill_tokens is None:
        return None
    return worker.queued_prefill_tokens / context_length


def _decode_pressure(worker: WorkerLoad) -> float | None:
    if worker.scheduled_kv_tokens is None or not worker.max_kv_tokens:
        return None
    return (worker.scheduled_kv_tokens + (worker.queued_kv_tokens or 0.0)) / worker.max_kv_tokens


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
        thresholds: LoadThresholds,
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

    def _in_progress(self, role: Role, count: ReplicaCount, now: float) -> bool:
        if not count.scaling:
            self._pending_since.pop(role, None)
            return False
        since = self._pending_since.setdefault(role, now)
        return now - since < self.pending_timeout_s

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
            if self._in_progress(role, count, ctx.now):
                reasons[role] = "scaling_in_progress"
                continue
            mine = [w for w in workers if w.role is role]
            if role is Role.PREFILL:
                pressures = [p for w in mine if (p := _prefill_pressure(w, self.context_length)) is not None]
                step, reason = decide_role(pressures, t.prefill_up, t.prefill_down)
            else:
                pressures = [p for w in mine if (p := _decode_pressure(w)) is not None]
                step, reason = decide_role(pressures, t.decode_up, t.decode_down)
            reasons[role] = reason
            if step:
                targets[role] = max(0, count.expected + step)
        self.last_reasons = reasons
        summary = ", ".join(f"{role.value}: {reason}" for role, reason in reasons.items())
        return ProposeResult.set(targets, reason=summary) if targets else ProposeResult.accept(summary)
