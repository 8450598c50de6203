"""PROPOSE: merge replica targets. REJECT aborts > a `final` result > per-role bounds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from planner_sdk import Bound, ProposeResult, ReplicaTarget, Role, Verdict

__all__ = ["Proposer", "MergedTargets", "merge_proposals", "bound_role"]

Proposer = tuple[str, int, ProposeResult]
"""(plugin id, priority, result), in ascending priority order."""


@dataclass(frozen=True, slots=True)
class MergedTargets:
    """The merge's answer: targets per role, or who rejected the tick, and why."""

    targets: dict[Role, int] = field(default_factory=dict)
    rejected_by: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    final_by: str | None = None


def bound_role(constraints: Sequence[tuple[int, ReplicaTarget]], baseline: int) -> int:
    """max(max AT_LEAST, min(min AT_MOST, SET of the lowest priority number, else baseline)).

    A floor beats a ceiling when they conflict: under-provisioning breaks the SLA,
    over-provisioning only costs money, and a ceiling that matters belongs in safety.
    """
    sets = [(prio, t.replicas) for prio, t in constraints if t.bound is Bound.SET]
    floors = [t.replicas for _, t in constraints if t.bound is Bound.AT_LEAST]
    ceilings = [t.replicas for _, t in constraints if t.bound is Bound.AT_MOST]
    value = min(sets)[1] if sets else baseline
    if ceilings:
        value = min(min(ceilings), value)
    if floors:
        value = max(max(floors), value)
    return value


def merge_proposals(proposers: Sequence[Proposer], baseline: Mapping[Role, int]) -> MergedTargets:
    """Merge propose results; roles nobody spoke for are left out of the targets."""
    rejecters = [(pid, res.reason) for pid, _, res in proposers if res.verdict is Verdict.REJECT]
    if rejecters:
        return MergedTargets(
            rejected_by=tuple(pid for pid, _ in rejecters),
            reasons=tuple(f"{pid}: {reason or 'rejected'}" for pid, reason in rejecters),
        )
    overrides = [(pid, prio, res) for pid, prio, res in proposers if res.verdict is Verdict.OVERRIDE]
    finals = [entry for entry in overrides if entry[2].final]
    final_by = None
    if finals:
        winner = min(finals, key=lambda entry: (entry[1], entry[0]))
        overrides, final_by = [winner], winner[0]
    by_role: dict[Role, list[tuple[int, ReplicaTarget]]] = {}
    for _, prio, res in overrides:
        for target in res.targets:
            by_role.setdefault(target.role, []).append((prio, target))
    targets = {role: bound_role(constraints, baseline[role]) for role, constraints in by_role.items()}
    reasons = tuple(f"{pid}: {res.reason}" for pid, _, res in overrides if res.reason)
    return MergedTargets(targets=targets, reasons=reasons, final_by=final_by)
