"""What must hold in any run, whatever failed around it: checked from the decision record."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner_sdk import Role

from ..config import PlannerConfig
from ..pipeline.record import TickRecord, to_jsonable

__all__ = ["InvariantReport", "check_run"]


@dataclass
class InvariantReport:
    """Counts over one run's ticks; every count but `ticks` and `applied` must be 0."""

    ticks: int = 0
    applied: int = 0
    outside_limits: int = 0  # applied targets below a min endpoint, above max replicas, or over the budget
    duplicate_applies: int = 0  # a decision id the deployment was handed more than once
    id_regressions: int = 0  # a decision id not above the one before it
    late_applies: int = 0  # something applied by a tick that ran past its deadline
    problems: list[str] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return self.outside_limits + self.duplicate_applies + self.id_regressions + self.late_applies


def _limits_broken(targets: Mapping[str, int], config: PlannerConfig) -> list[str]:
    broken = []
    gpus = 0
    for name, count in targets.items():
        role = Role(name)
        gpus += count * config.gpus_per_engine(role)
        if count < config.min_endpoint_for(role):
            broken.append(f"{name} {count} < min endpoint {config.min_endpoint_for(role)}")
        if count > config.safety.max_replicas_per_role:
            broken.append(f"{name} {count} > max_replicas_per_role {config.safety.max_replicas_per_role}")
    if 0 <= config.max_gpu_budget < gpus:
        broken.append(f"{gpus} GPUs > max_gpu_budget {config.max_gpu_budget}")
    return broken


def check_run(
    records: Iterable[TickRecord | Mapping[str, Any]], config: PlannerConfig, handed_out: Sequence[int] = ()
) -> InvariantReport:
    """Check tick records (objects, or the decision record's JSON lines) and the decision ids the
    deployment was handed, in order, against the config's limits and deadline."""
    report = InvariantReport()
    deadline_ms = config.scheduling.tick_max_duration_seconds * 1000.0
    last_id = 0
    for item in records:
        record = to_jsonable(item) if isinstance(item, TickRecord) else item
        report.ticks += 1
        decision_id = record.get("decision_id")
        if isinstance(decision_id, int):
            if decision_id <= last_id:
                report.id_regressions += 1
                report.problems.append(f"tick {record['tick_id']}: decision {decision_id} after {last_id}")
            last_id = max(last_id, decision_id)
        if record.get("outcome") != "applied":
            continue
        report.applied += 1
        broken = _limits_broken(record.get("targets") or {}, config)
        if broken:
            report.outside_limits += 1
            report.problems.append(f"tick {record['tick_id']}: applied " + "; ".join(broken))
        if (record.get("duration_ms") or 0.0) > deadline_ms:
            report.late_applies += 1
            report.problems.append(f"tick {record['tick_id']}: applied after {record['duration_ms']:.0f} ms")
    repeats = {i: n for i, n in Counter(handed_out).items() if n > 1}
    report.duplicate_applies = sum(n - 1 for n in repeats.values())
    report.problems += [f"decision {i} handed to the deployment {n} times" for i, n in sorted(repeats.items())]
    return report
