"""The embedded synthetic deployment `planner run` drives when no real one is configured."""

from __future__ import annotations

from .world import CapacityPropose, EmbeddedWorld, SyntheticTraffic, TrafficPattern

__all__ = ["CapacityPropose", "EmbeddedWorld", "SyntheticTraffic", "TrafficPattern"]
