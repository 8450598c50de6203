"""What each tick saw and decided, flattened for charts: one small Snapshot per tick, a bounded history."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field

from planner_sdk import ProposeResult, ReplicaCount, Role

from ..config import PlannerConfig
from ..pipeline.record import TickRecord

__all__ = [
    "Snapshot", "History", "snapshot_of", "observed_quantities", "predicted_quantities", "fleet_gpus",
    "proposal_estimates", "decided_by",
]  # fmt: skip

DEFAULT_KEEP = 10_000
"""Snapshots a daemon keeps for its reports and dashboard (~1.7 kB each, ~17 MB): a week of 60 s
ticks, 28 hours of 10 s ones; a report interval longer than that reports the ticks kept."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One tick, as the report and the dashboard draw it. Unknown values are None, never zero."""

    t: float
    tick_id: int
    outcome: str
    decision_id: int | None = None
    ready: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    recommended: dict[str, int] = field(default_factory=dict)  # this tick's targets after safety
    gpus: float | None = None
    observed: dict[str, float] = field(default_factory=dict)  # ttft_ms, itl_ms, requests_per_second, isl, osl
    predicted: dict[str, float] = field(default_factory=dict)  # requests_per_second, isl, osl
    estimated: dict[str, float] = field(default_factory=dict)  # ttft_ms, itl_ms of the proposed fleet
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def proposal_estimates(record: TickRecord) -> dict[str, float]:
    """TTFT and ITL expected of the proposed fleet: the first proposer (in call order) that says."""
    found: dict[str, float] = {}
    for call in record.calls:
        result = call.result
        if call.stage != "propose" or call.status not in ("ok", "held") or not isinstance(result, ProposeResult):
            continue
        for name, value in (("ttft_ms", result.estimated_ttft_ms), ("itl_ms", result.estimated_itl_ms)):
            if name not in found and _finite(value):
                assert value is not None
                found[name] = value
    return found


def decided_by(record: TickRecord, role_name: str) -> str:
    """Who set this role's target: safety (with the cut's reason), a clamp, or the proposer whose
    target the merged proposal took; `none` when no proposer spoke for the role."""
    for cut in reversed(record.cuts):  # the last cut of the role is the one that set its target
        if cut.role.value == role_name:
            return f"safety:{cut.reason}"
    proposal = {r.value: n for r, n in (record.proposal or {}).items()}
    clamped = {r.value: n for r, n in (record.clamped or {}).items()}
    if role_name in clamped and clamped.get(role_name) != proposal.get(role_name):
        return "clamp"
    for call in record.calls:
        result = call.result
        if call.stage == "propose" and isinstance(result, ProposeResult):
            for target in result.targets:
                if target.role.value == role_name and target.replicas == proposal.get(role_name):
                    return call.plugin_id
    return "none"


def _reason(record: TickRecord) -> str:
    parts = [*record.merge_reasons, *record.clamp_reasons, *record.safety_reasons]
    if record.reason:
        parts.append(record.reason)
    return "; ".join(parts)


def _known(pairs: tuple[tuple[str, float | None], ...]) -> dict[str, float]:
    return {name: value for name, value in pairs if value is not None and _finite(value)}


def observed_quantities(record: TickRecord) -> dict[str, float]:
    """What the tick observed: ttft_ms, itl_ms, requests_per_second, isl, osl (those known)."""
    traffic = record.observations.traffic if record.observations is not None else None
    if traffic is None:
        return {}
    rate = traffic.num_requests / traffic.window_seconds if traffic.num_requests is not None else None
    return _known((
        ("ttft_ms", traffic.mean_ttft_ms), ("itl_ms", traffic.mean_itl_ms), ("requests_per_second", rate),
        ("isl", traffic.mean_isl), ("osl", traffic.mean_osl),
    ))  # fmt: skip


def predicted_quantities(record: TickRecord, config: PlannerConfig) -> dict[str, float]:
    """The next interval's forecast: requests_per_second, isl, osl (those known)."""
    p = record.predictions
    if p is None:
        return {}
    rate = p.num_requests / config.throughput_adjustment_interval_seconds if p.num_requests is not None else None
    return _known((("requests_per_second", rate), ("isl", p.isl), ("osl", p.osl)))


def fleet_gpus(replicas: Mapping[Role, ReplicaCount], config: PlannerConfig) -> float:
    """GPUs the deployment is asked for: expected engines times GPUs each."""
    return float(sum(count.expected * config.gpus_per_engine(role) for role, count in replicas.items()))


def snapshot_of(record: TickRecord, config: PlannerConfig, t: float | None = None) -> Snapshot:
    """The tick as charts draw it, at `t` (default: the record's epoch time)."""
    replicas = record.replicas or {}
    return Snapshot(
        t=record.time if t is None else t,
        tick_id=record.tick_id,
        outcome=record.outcome,
        decision_id=record.decision_id,
        ready={role.value: count.ready for role, count in replicas.items()},
        expected={role.value: count.expected for role, count in replicas.items()},
        recommended={role.value: n for role, n in (record.targets or {}).items()},
        gpus=fleet_gpus(replicas, config) if replicas else None,
        observed=observed_quantities(record),
        predicted=predicted_quantities(record, config),
        estimated=proposal_estimates(record),
        reason=_reason(record),
    )


class History:
    """The last `keep` snapshots, oldest first."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self.keep = keep
        self._snapshots: deque[Snapshot] = deque(maxlen=keep)

    def add(self, snapshot: Snapshot) -> None:
        self._snapshots.append(snapshot)

    def extend(self, snapshots: Iterable[Snapshot]) -> None:
        self._snapshots.extend(snapshots)

    def since(self, t: float) -> list[Snapshot]:
        return [s for s in self._snapshots if s.t >= t]

    def after_tick(self, tick_id: int) -> list[Snapshot]:
        return [s for s in self._snapshots if s.tick_id > tick_id]

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self._snapshots)

    def __len__(self) -> int:
        return len(self._snapshots)
