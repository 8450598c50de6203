"""The connector interface: read the deployment's replica counts and change them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from planner_sdk import Decision, ReplicaCount, Role

__all__ = ["Connector"]


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
