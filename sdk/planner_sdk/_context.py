"""The tick context: the one input every plugin gets, trimmed to what it declared it needs."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._types import Observations, Predictions, ReplicaCount, Role

__all__ = ["ContextField", "PlannerView", "TickContext"]


class ContextField(enum.StrEnum):
    """Parts of the tick context a plugin may need or require."""

    REPLICAS = "replicas"
    TRAFFIC = "traffic"
    WORKERS = "workers"
    PREDICTIONS = "predictions"
    PROPOSAL = "proposal"


@dataclass(frozen=True, slots=True)
class PlannerView:
    """The slice of the planner's config every plugin may read: SLA, budget, roles."""

    mode: str
    roles: tuple[Role, ...]
    optimization_target: str
    ttft_ms: float
    itl_ms: float
    max_gpu_budget: int
    gpus_per_engine: Mapping[Role, int]
    min_endpoint: Mapping[Role, int]
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TickContext:
    """Everything a plugin may know about the tick it runs in."""

    tick_id: int
    decision_id: int
    now: float
    planner: PlannerView
    replicas: Mapping[Role, ReplicaCount] | None = None
    observations: Observations = field(default_factory=Observations)
    predictions: Predictions = field(default_factory=Predictions)
    proposal: Mapping[Role, int] | None = None

    def has(self, name: ContextField) -> bool:
        """Whether the field is set (unset is not zero)."""
        if name is ContextField.REPLICAS:
            return self.replicas is not None
        if name is ContextField.TRAFFIC:
            return self.observations.traffic is not None
        if name is ContextField.WORKERS:
            return self.observations.workers is not None
        if name is ContextField.PREDICTIONS:
            return not self.predictions.is_empty()
        return self.proposal is not None

    def trimmed(self, needs: Iterable[ContextField]) -> TickContext:
        """A copy holding only the fields in `needs` (ids, time and planner view always stay)."""
        keep = frozenset(needs)
        traffic = self.observations.traffic if ContextField.TRAFFIC in keep else None
        workers = self.observations.workers if ContextField.WORKERS in keep else None
        return dataclasses.replace(
            self,
            replicas=self.replicas if ContextField.REPLICAS in keep else None,
            observations=Observations(traffic=traffic, workers=workers),
            predictions=self.predictions if ContextField.PREDICTIONS in keep else Predictions(),
            proposal=self.proposal if ContextField.PROPOSAL in keep else None,
        )
