"""The tick scheduler: slot k at t0 + k*base, never drifting; overruns skip slots, counted."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import anyio

from ..clock import Clock
from .cadence import base_cadence

if TYPE_CHECKING:  # the registry imports the cadence arithmetic from this package
    from ..registry import PluginRegistry

__all__ = ["TickScheduler", "SchedulerStats"]

RunTick = Callable[[int, Fraction, int], Awaitable[Any]]
"""run_tick(tick_id, slot offset from t0 in seconds, slots skipped just before it)."""


@dataclass
class SchedulerStats:
    ticks: int = 0
    skipped_slots: int = 0
    base_changes: int = 0
    jitter_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class TickScheduler:
    """Wakes at every slot of the base cadence and runs one tick there.

    The base is the gcd of the registered plugins' intervals unless set explicitly; it is
    recomputed (and the slot grid re-anchored on the last slot) when plugins come or go.
    """

    def __init__(self, clock: Clock, registry: PluginRegistry, explicit_base: float | None, run_tick: RunTick) -> None:
        self.clock = clock
        self.registry = registry
        self.explicit_base = explicit_base
        self.run_tick = run_tick
        self.stats = SchedulerStats()
        self.t0: float | None = None
        self._base: Fraction | None = None
        self._dirty = True  # the cached base is stale
        self._stopping = False
        self._wake = anyio.Event()
        self._sleep_scope: anyio.CancelScope | None = None
        registry.on_change(self._registry_changed)

    @property
    def base(self) -> Fraction | None:
        """The current base cadence, or None while no plugin is registered (and none is set)."""
        if self._dirty:
            intervals = self.registry.intervals()
            self._base = base_cadence(intervals, self.explicit_base) if intervals or self.explicit_base else None
            self._dirty = False
        return self._base

    def offset_now(self) -> Fraction:
        """Seconds since t0, exactly as a rational (0 before the scheduler starts)."""
        return Fraction(0) if self.t0 is None else Fraction(self.clock.monotonic() - self.t0)

    def request_stop(self) -> None:
        """Finish the tick in flight, if any, then return from `run`. Idempotent."""
        self._stopping = True
        self._interrupt()

    async def run(self, *, max_ticks: int | None = None) -> SchedulerStats:
        """Tick until stopped (or for `max_ticks` ticks); returns the stats."""
        clock = self.clock
        self.t0 = clock.monotonic()
        anchor, k, base = Fraction(0), 0, self.base
        last_slot: Fraction | None = None
        skipped = 0
        while not self._stopping and (max_ticks is None or self.stats.ticks < max_ticks):
            # Read the base afresh every round: anyone may have read it since the plugin set changed.
            old, base = base, self.base
            if old is not None and base is not None and base != old:
                anchor, k = self._reanchor(anchor, base, last_slot)
                self.stats.base_changes += 1
            if base is None:
                await self._wait_for_change()
                anchor, k = self.offset_now(), 0
                base = self.base
                continue
            slot = anchor + k * base
            slot_time = self.t0 + float(slot)
            if not await self._sleep_until(slot_time):
                continue  # woken early: stop requested or the plugin set changed
            self.stats.jitter_seconds.append(clock.monotonic() - slot_time)
            self.stats.ticks += 1
            await self.run_tick(self.stats.ticks, slot, skipped)
            last_slot = slot
            finished = self.offset_now() - anchor
            next_k = max(k + 1, math.ceil(finished / base))
            skipped = next_k - k - 1
            self.stats.skipped_slots += skipped
            k = next_k
        return self.stats

    def _reanchor(self, anchor: Fraction, base: Fraction, last_slot: Fraction | None) -> tuple[Fraction, int]:
        """The new grid for a new base: from the soonest time a plugin is due, when that is still
        ahead (a joining plugin is called at once; one leaving does not delay the others' next
        runs), else from the last slot that ran, its first slot not yet past."""
        now = self.offset_now()
        due = self.registry.earliest_due()
        if due is not None and due >= now and (last_slot is None or due > last_slot):
            return due, 0
        anchor = last_slot if last_slot is not None else anchor
        first = 0 if last_slot is None else 1
        return anchor, max(first, math.ceil((now - anchor) / base))

    async def _sleep_until(self, deadline: float) -> bool:
        """Sleep to the slot; False if woken early by a stop request or a registry change."""
        if self._stopping:
            return False
        with anyio.CancelScope() as scope:
            self._sleep_scope = scope
            await self.clock.sleep_until(deadline)
        self._sleep_scope = None
        return not scope.cancel_called

    async def _wait_for_change(self) -> None:
        self._wake = anyio.Event()
        await self._wake.wait()

    def _interrupt(self) -> None:
        self._wake.set()
        if self._sleep_scope is not None:
            self._sleep_scope.cancel()

    def _registry_changed(self) -> None:
        self._dirty = True
        self._interrupt()
