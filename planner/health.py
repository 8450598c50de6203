"""/healthz (the daemon's event loop answers) and /readyz (started, and the deployment reachable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http_server import Route

if TYPE_CHECKING:
    from .daemon import Planner

__all__ = ["health_routes"]

_TEXT = b"text/plain; charset=utf-8"


def health_routes(planner: Planner) -> dict[str, Route]:
    """Probe endpoints: liveness needs only a loop that answers; readiness says what is missing."""

    def healthz() -> tuple[int, bytes, bytes]:
        return 200, _TEXT, b"ok\n"

    def readyz() -> tuple[int, bytes, bytes]:
        reasons = planner.not_ready()
        if reasons:
            return 503, _TEXT, ("not ready: " + "; ".join(reasons) + "\n").encode()
        return 200, _TEXT, b"ready\n"

    return {"/healthz": healthz, "/readyz": readyz}
