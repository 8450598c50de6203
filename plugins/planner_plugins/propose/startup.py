"""How long an engine takes from being asked for to serving: configured, then refined from observed starts."""

from __future__ import annotations

from collections.abc import Mapping

from planner_sdk import ReplicaCount, Role

__all__ = ["StartupEstimate"]


class StartupEstimate:
    """How long an engine takes from being asked for to serving: the configured value until a start
    is seen, then the average of observed starts. Ticks see a start only between the last tick that
    found the engine starting and the first that found it ready; it is timed at the middle of that
    bracket. (Timing it at the end, as Dynamo's planner would see it, overstates every start by half
    an interval on average, and by a whole one where a start is a whole number of intervals.)"""

    def __init__(self, configured_s: float, refine: bool = True) -> None:
        self.seconds = configured_s
        self.refine = refine
        self.observed = 0
        self._asked_at: dict[Role, float] = {}
        self._seen_starting: dict[Role, float] = {}  # when a tick last saw the role still starting

    def asked(self, role: Role, now: float) -> None:
        if not self.refine:
            return
        # Timed from the latest ask: the engines asked for last are the ones the role waits for.
        self._asked_at[role] = now

    def update(self, now: float, replicas: Mapping[Role, ReplicaCount]) -> None:
        for role, asked_at in list(self._asked_at.items()):
            count = replicas.get(role)
            if count is None:
                continue
            if count.ready < count.expected:
                self._seen_starting[role] = now
                continue
            del self._asked_at[role]
            starting_at = self._seen_starting.pop(role, None)
            if starting_at is not None:  # it was applied, and has now started
                self.observed += 1
                weight = max(1.0 / self.observed, 0.2)
                started = (max(starting_at, asked_at) + now) / 2 - asked_at
                self.seconds += weight * (started - self.seconds)
