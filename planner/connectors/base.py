"""The connector interface: read the deployment's replica counts and change them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from planner_sdk import Decision, ReplicaCount, Role

__all__ = ["Connector", "DecisionClaim", "Leadership"]


@runtime_checkable
class Connector(Protocol):
    """How the planner reaches a deployment: Kubernetes, an orchestrator, or a simulation."""

    async def current_replicas(self) -> Mapping[Role, ReplicaCount]:
        """Ready and expected engines per role, as the deployment reports them now."""
        ...

    async def apply(self, decision: Decision) -> Sequence[str] | None:
        """Ask for `decision.targets`; ids only grow, and a repeated id is a no-op.

        Returns why any role was left as it is (e.g. a manual override being respected); raises
        ConnectorError when the deployment could not be changed (the tick says `apply_failed`).
        """
        ...

    async def wait_ready(self, deadline: float) -> bool:
        """Wait until ready equals expected for every role, or until the (monotonic) deadline."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class DecisionClaim:
    """The id a decision may be applied under, or (None) the tick's outcome and why it may not."""

    decision_id: int | None
    outcome: str
    reason: str


class Leadership(Protocol):
    """Who may apply: with several planner replicas, only the one that claims the next decision id."""

    async def claim_decision_id(self, at_least: int) -> DecisionClaim:
        """The id to apply under (at least `at_least`, above any id any replica used), or why not."""
        ...
