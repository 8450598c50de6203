"""An in-memory deployment: engines become ready a start-up delay after they are asked for."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from planner_sdk import Decision, ReplicaCount, Role

from ..clock import Clock
from ..errors import ConnectorError

__all__ = ["InMemoryConnector"]


class InMemoryConnector:
    """A deployment held in memory; the clock decides when started engines are ready.

    Scale-down takes effect at once; each added engine becomes ready `startup_delay_seconds`
    after the decision that asked for it.
    """

    def __init__(
        self,
        clock: Clock,
        initial: Mapping[Role, int],
        startup_delay_seconds: float = 0.0,
    ) -> None:
        self._clock = clock
        self._delay = startup_delay_seconds
        # Per role, the monotonic time at which each engine is (or will be) ready.
        self._engines: dict[Role, list[float]] = {role: [-math.inf] * n for role, n in initial.items()}
        self.applied: list[Decision] = []
        self._last_id = 0

    @property
    def roles(self) -> Sequence[Role]:
        return tuple(self._engines)

    async def current_replicas(self) -> Mapping[Role, ReplicaCount]:
        now = self._clock.monotonic()
        return {
            role: ReplicaCount(ready=sum(1 for t in ready_at if t <= now), expected=len(ready_at))
            for role, ready_at in self._engines.items()
        }

    async def apply(self, decision: Decision) -> None:
        if decision.decision_id <= self._last_id:
            return
        unknown = set(decision.targets) - set(self._engines)
        if unknown:
            raise ConnectorError(
                f"decision {decision.decision_id} names roles this deployment lacks: {sorted(r.value for r in unknown)}"
            )
        now = self._clock.monotonic()
        for role, target in decision.targets.items():
            engines = sorted(self._engines[role])
            if target > len(engines):
                engines.extend([now + self._delay] * (target - len(engines)))
            else:
                # Remove the engines that are furthest from ready first.
                del engines[target:]
            self._engines[role] = engines
        self._last_id = decision.decision_id
        self.applied.append(decision)

    async def wait_ready(self, deadline: float) -> bool:
        while True:
            counts = await self.current_replicas()
            if all(c.ready == c.expected for c in counts.values()):
                return True
            pending = [t for ready_at in self._engines.values() for t in ready_at if t > self._clock.monotonic()]
            wake = min([deadline, *pending])
            if self._clock.monotonic() >= deadline:
                return False
            await self._clock.sleep_until(wake)

    async def aclose(self) -> None:
        return None
