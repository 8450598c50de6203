"""CLAMP: plugins can only bound the merged proposal (AT_LEAST / AT_MOST) or reject the tick."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner_sdk import Bound, ReplicaTarget, Role, Verdict

from .propose import MergedTargets, Proposer, bound_role

__all__ = ["ClampOutcome", "apply_clamps"]


@dataclass(frozen=True, slots=True)
class ClampOutcome:
    merged: MergedTargets
    dropped: tuple[str, ...]


def apply_clamps(
    proposal: Mapping[Role, int], clampers: Sequence[Proposer], current: Mapping[Role, int]
) -> ClampOutcome:
    """Bound each role's proposal; SET targets are dropped and `final` is ignored (both recorded)."""
    rejecters = [(pid, res.reason) for pid, _, res in clampers if res.verdict is Verdict.REJECT]
    if rejecters:
        merged = MergedTargets(
            rejected_by=tuple(pid for pid, _ in rejecters),
            reasons=tuple(f"{pid}: {reason or 'rejected'}" for pid, reason in rejecters),
        )
        return ClampOutcome(merged, ())
    dropped: list[str] = []
    by_role: dict[Role, list[tuple[int, ReplicaTarget]]] = {}
    reasons: list[str] = []
    for pid, prio, res in clampers:
        if res.verdict is not Verdict.OVERRIDE:
            continue
        if res.final:
            dropped.append(f"{pid}: final ignored in clamp stage")
        for target in res.targets:
            if target.bound is Bound.SET:
                dropped.append(f"{pid}: SET {target.role.value}={target.replicas} dropped in clamp stage")
                continue
            by_role.setdefault(target.role, []).append((prio, target))
        if res.reason:
            reasons.append(f"{pid}: {res.reason}")
    targets = dict(proposal)
    for role, constraints in by_role.items():
        baseline = proposal.get(role, current[role])
        bounded = bound_role(constraints, baseline)
        if bounded != baseline:
            reasons.append(f"clamp {role.value}: {baseline} -> {bounded}")
        targets[role] = bounded
    return ClampOutcome(MergedTargets(targets=targets, reasons=tuple(reasons)), tuple(dropped))
