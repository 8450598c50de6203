"""SAFETY: always on, not pluggable. Min endpoints, change cap, GPU budget, direction, pending capacity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from planner_sdk import ReplicaCount, Role

__all__ = ["CUT_REASONS", "Cut", "SafetyLimits", "SafetyOutcome", "SafetyGuard", "enforce_limits"]

CUT_REASONS = ("min_endpoint", "change_capped", "budget_capped", "pending_capacity")
"""Why safety changed a role's target: raised to its minimum, limited to `max_throughput_scaling_replicas`
per decision, cut to `max_gpu_budget`, or a scale-down held while new engines start."""


@dataclass(frozen=True, slots=True)
class Cut:
    """Safety kept `kept` engines of `role` where `asked` were asked for, for `reason` (see CUT_REASONS);
    `limit` names the setting or state that did it (`max_gpu_budget=8`)."""

    role: Role
    asked: int
    kept: int
    reason: str
    limit: str = field(default="", compare=False)

    def describe(self) -> str:
        limit = f": {self.limit}" if self.limit else ""
        return f"{self.role.value} asked {self.asked}, kept {self.kept} ({self.reason}{limit})"


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    """What safety enforces, taken from the config once."""

    min_endpoint: Mapping[Role, int]
    gpus_per_engine: Mapping[Role, int]
    max_gpu_budget: int  # -1: no budget
    pending_scale_down_timeout_seconds: float
    max_change: int | None = None  # most engines a role gains or loses per decision; None: no cap


@dataclass(frozen=True, slots=True)
class SafetyOutcome:
    targets: dict[Role, int]
    reasons: tuple[str, ...] = field(default=())
    cuts: tuple[Cut, ...] = field(default=())


def _gpus(targets: Mapping[Role, int], limits: SafetyLimits) -> int:
    return sum(n * limits.gpus_per_engine[role] for role, n in targets.items())


def enforce_limits(requested: Mapping[Role, int], current: Mapping[Role, int], limits: SafetyLimits) -> SafetyOutcome:
    """Min endpoints, the change cap, then the GPU budget, never reversing a role's requested direction.

    Budget cuts come first from roles asked to grow (down to their current count, never
    below: that would turn a scale-up into a scale-down), then from roles already shrinking
    or holding (down to their minimum). Within each group the role using the most GPUs gives
    one engine at a time, so the roles stay balanced.
    """
    reasons: list[str] = []
    cuts: list[Cut] = []
    targets = {**current, **requested}

    def record(role: Role, asked: int, kept: int, reason: str, detail: str) -> None:
        cuts.append(Cut(role, asked, kept, reason, detail))
        reasons.append(f"{role.value}: {'raised' if kept > asked else 'cut'} {asked} -> {kept} ({detail})")

    for role, n in list(targets.items()):
        floor = limits.min_endpoint[role]
        if n < floor:
            record(role, n, floor, "min_endpoint", "min endpoint")
            targets[role] = n = floor
        cap = limits.max_change
        if cap is not None and abs(n - current[role]) > cap:
            kept = max(floor, current[role] + (cap if n > current[role] else -cap))
            if kept != n:
                record(role, n, kept, "change_capped", f"max_throughput_scaling_replicas={cap}")
                targets[role] = kept
    budget = limits.max_gpu_budget
    if budget < 0 or _gpus(targets, limits) <= budget:
        return SafetyOutcome(targets, tuple(reasons), tuple(cuts))
    asked = dict(targets)
    growing = {r: max(current[r], limits.min_endpoint[r]) for r in targets if targets[r] > current[r]}
    others = {r: limits.min_endpoint[r] for r in targets if r not in growing}
    for floors in (growing, others):
        while _gpus(targets, limits) > budget:
            cuttable = [r for r in floors if targets[r] > floors[r]]
            if not cuttable:
                break
            role = max(cuttable, key=lambda r: (targets[r] * limits.gpus_per_engine[r], r.value))
            targets[role] -= 1
    for role in targets:
        if targets[role] != asked[role]:
            record(role, asked[role], targets[role], "budget_capped", f"max_gpu_budget={budget}")
    if _gpus(targets, limits) > budget:
        reasons.append(
            f"max_gpu_budget={budget} cannot be met without reversing a requested scale-up "
            f"({_gpus(targets, limits)} GPUs held)"
        )
    return SafetyOutcome(targets, tuple(reasons), tuple(cuts))


class SafetyGuard:
    """The stateful part of safety: no scale-down while new capacity is still pending.

    Capacity that stays pending longer than the timeout (a worker stuck without a GPU) stops
    blocking scale-down, so a stuck pod cannot freeze the fleet at its peak forever.
    """

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits
        self._pending_since: dict[Role, float] = {}

    def enforce(
        self, requested: Mapping[Role, int], replicas: Mapping[Role, ReplicaCount], now: float
    ) -> SafetyOutcome:
        current = {role: count.expected for role, count in replicas.items()}
        outcome = enforce_limits(requested, current, self.limits)
        targets, reasons, cuts = dict(outcome.targets), list(outcome.reasons), list(outcome.cuts)
        for role, count in replicas.items():
            if count.ready >= count.expected:
                self._pending_since.pop(role, None)
                continue
            since = self._pending_since.setdefault(role, now)
            if targets.get(role, count.expected) >= count.expected:
                continue
            waited = now - since
            held = {**targets, role: count.expected}
            within_budget = self.limits.max_gpu_budget < 0 or _gpus(held, self.limits) <= self.limits.max_gpu_budget
            if waited < self.limits.pending_scale_down_timeout_seconds and within_budget:
                starting = f"{count.expected - count.ready} engine(s) still starting"
                reasons.append(f"{role.value}: scale-down {count.expected} -> {targets[role]} held, {starting}")
                cuts.append(Cut(role, targets[role], count.expected, "pending_capacity", starting))
                targets[role] = count.expected
            else:
                reasons.append(
                    f"{role.value}: capacity pending for {waited:.0f} s (> "
                    f"{self.limits.pending_scale_down_timeout_seconds:g} s), scale-down allowed"
                )
        return SafetyOutcome(targets, tuple(reasons), tuple(cuts))
