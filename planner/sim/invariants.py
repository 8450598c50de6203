"""What must hold in any run, whatever failed around it: checked from the decision record."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner_sdk import Role

from ..config import PlannerConfig
from ..pipeline.record import TickRecord, to_jsonable

__all__ = ["InvariantChecker", "InvariantReport", "check_run"]


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


class InvariantChecker:
    """Checks records as they land (a long run need not keep them): `add` each, then `finish`."""

    def __init__(self, config: PlannerConfig) -> None:
        self.config = config
        self.report = InvariantReport()
        self._deadline_ms = config.scheduling.tick_max_duration_seconds * 1000.0
        self._last_id = 0

    def add(self, item: TickRecord | Mapping[str, Any]) -> None:
        record = to_jsonable(item) if isinstance(item, TickRecord) else item
        report = self.report
        report.ticks += 1
        decision_id = record.get("decision_id")
        if isinstance(decision_id, int):
            if decision_id <= self._last_id:
                report.id_regressions += 1
                report.problems.append(f"tick {record['tick_id']}: decision {decision_id} after {self._last_id}")
            self._last_id = max(self._last_id, decision_id)
        if record.get("outcome") != "applied":
            return
        report.applied += 1
        broken = _limits_broken(record.get("targets") or {}, self.config)
        if broken:
            report.outside_limits += 1
            report.problems.append(f"tick {record['tick_id']}: applied " + "; ".join(broken))
        if (record.get("duration_ms") or 0.0) > self._deadline_ms:
            report.late_applies += 1
            report.problems.append(f"tick {record['tick_id']}: applied after {record['duration_ms']:.0f} ms")

    def finish(self, handed_out: Sequence[int] = ()) -> InvariantReport:
        """The report, with the decision ids the deployment was handed, in order, checked for repeats."""
        repeats = {i: n for i, n in Counter(handed_out).items() if n > 1}
        self.report.duplicate_applies = sum(n - 1 for n in repeats.values())
        self.report.problems += [f"decision {i} handed to the deployment {n} times" for i, n in sorted(repeats.items())]
        return self.report


def check_run(
    records: Iterable[TickRecord | Mapping[str, Any]], config: PlannerConfig, handed_out: Sequence[int] = ()
) -> InvariantReport:
    """Check tick records (objects, or the decision record's JSON lines) and the decision ids the
    deployment was handed, in order, against the config's limits and deadline."""
    checker = InvariantChecker(config)
    for record in records:
        checker.add(record)
    return checker.finish(handed_out)
