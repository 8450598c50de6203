"""The scale-down stabilisation window: recent targets hold engines against scale-down."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from planner_sdk import Role

__all__ = ["ScaleDownWindow"]


class ScaleDownWindow:
    """The largest target of a trailing window, per role, as far as the fleet already has or is
    starting it: the window holds engines against scale-down (as Kubernetes' HPA does), it does not
    ask for new ones the decision now does not want. (A target cut by the change cap was otherwise
    asked for again tick after tick: after a 90 s burst, a trend's 30P was climbed to over four
    minutes while the forecasts had fallen back to 2P.) The window ends at now: the current target
    always counts. The fleet found at the first decision counts as wanted then: one window of
    traffic is too little history to shed what the deployment was running (a quiet minute before
    a busy one)."""

    def __init__(self) -> None:
        self._recent: deque[tuple[float, dict[Role, int]]] = deque()
        self._started = False

    def hold(
        self,
        now: float,
        wanted: dict[Role, int],
        current: Mapping[Role, int],
        window: float,
        memory: float,
        kept: Mapping[Role, int] | None = None,
    ) -> dict[Role, int]:
        """`wanted`, raised to what the last `window` seconds wanted; `memory` (at least `window`):
        how long targets are remembered, for a longer window later. `kept`: what the window
        remembers of `wanted`, all of it if None."""
        if window <= 0:
            return wanted
        if not self._started:
            self._started = True
            self._recent.append((now, {role: current.get(role, 0) for role in wanted}))
        self._recent.append((now, dict(kept) if kept is not None else wanted))
        while self._recent and self._recent[0][0] < now - memory:
            self._recent.popleft()
        held = [w for at, w in self._recent if at >= now - window]
        return {
            role: max(n, min(current.get(role, 0), max(w.get(role, 0) for w in held))) for role, n in wanted.items()
        }
