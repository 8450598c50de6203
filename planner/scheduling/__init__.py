"""Scheduling: the exact base cadence and the drift-free tick loop."""

from __future__ import annotations

from .cadence import as_fraction, base_cadence, gcd_of
from .scheduler import SchedulerStats, TickScheduler

__all__ = ["SchedulerStats", "TickScheduler", "as_fraction", "base_cadence", "gcd_of"]
