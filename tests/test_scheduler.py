"""Ticks land on t0 + k*base forever; overruns skip whole slots; the base follows the plugin set."""

from __future__ import annotations

from fractions import Fraction

import anyio
import pytest

from helpers import Propose, set_targets
from planner import InProcessTransport, VirtualClock
from planner.registry import PluginRegistry
from planner.scheduling import TickScheduler

pytestmark = pytest.mark.anyio


def _registry(clock: VirtualClock, *intervals: float) -> PluginRegistry:
    registry = PluginRegistry()
    for i, interval in enumerate(intervals):
        plugin = Propose(f"p{i}", set_targets(1, 1), interval=interval)
        registry.add(InProcessTransport(plugin, clock), source="api", timeout_seconds=5)
    return registry


async def test_ten_thousand_virtual_ticks_have_zero_drift() -> None:
    clock = VirtualClock(start=1000.0)
    starts: list[float] = []

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        starts.append(clock.monotonic())

    scheduler = TickScheduler(clock, _registry(clock, 0.1, 0.3), None, tick)
    async with clock.autojump():
        stats = await scheduler.run(max_ticks=10_000)
    assert stats.ticks == 10_000
    assert stats.skipped_slots == 0
    assert all(t == 1000.0 + float(Fraction(k, 10)) for k, t in enumerate(starts))
    assert starts[-1] - 1000.0 == pytest.approx(999.9, abs=1e-9)


async def test_an_overrunning_tick_skips_and_counts_the_missed_slots() -> None:
    clock = VirtualClock()
    starts: list[tuple[float, int]] = []

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        starts.append((clock.monotonic(), skipped))
        if tick_id == 3:  # starts at t=10, overruns the slots at 15 and 20
            await clock.sleep_until(clock.monotonic() + 12)

    scheduler = TickScheduler(clock, _registry(clock, 5), None, tick)
    async with clock.autojump():
        stats = await scheduler.run(max_ticks=5)
    assert starts == [(0.0, 0), (5.0, 0), (10.0, 0), (25.0, 2), (30.0, 0)]
    assert stats.skipped_slots == 2


async def test_a_tick_ending_exactly_on_the_next_slot_skips_nothing() -> None:
    clock = VirtualClock()
    starts: list[float] = []

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        starts.append(clock.monotonic())
        await clock.sleep_until(clock.monotonic() + 5)

    scheduler = TickScheduler(clock, _registry(clock, 5), None, tick)
    async with clock.autojump():
        stats = await scheduler.run(max_ticks=3)
    assert starts == [0.0, 5.0, 10.0]
    assert stats.skipped_slots == 0


async def test_a_plugin_registered_later_joins_the_cadence() -> None:
    clock = VirtualClock()
    registry = _registry(clock, 10)
    starts: list[float] = []

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        starts.append(clock.monotonic())

    scheduler = TickScheduler(clock, registry, None, tick)

    async def register_fast_plugin() -> None:
        await clock.sleep_until(12.0)
        plugin = Propose("fast", set_targets(1, 1), interval=4)
        registry.add(InProcessTransport(plugin, clock), source="api", timeout_seconds=5)

    async with clock.autojump(), anyio.create_task_group() as group:
        group.start_soon(register_fast_plugin)
        await scheduler.run(max_ticks=6)
    # base 10 until t=12, then gcd(10, 4) = 2 re-anchored on the last slot (t=10): 12 is a slot, and now
    assert starts == [0.0, 10.0, 12.0, 14.0, 16.0, 18.0]
    assert scheduler.stats.base_changes == 1


def _running_due_plugins(registry: PluginRegistry, slot: Fraction) -> None:
    """What a tick does to the schedule: each due plugin runs and is next due an interval later."""
    for plugin in registry:
        if plugin.is_due(slot):
            plugin.next_due = slot + plugin.interval


async def test_a_joining_plugin_is_called_at_once_even_if_the_base_was_read_meanwhile() -> None:
    clock = VirtualClock()
    registry = _registry(clock, 180)
    starts: list[float] = []

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        starts.append(clock.monotonic())
        _running_due_plugins(registry, slot)

    scheduler = TickScheduler(clock, registry, None, tick)

    async def register_fast_plugin() -> None:
        await clock.sleep_until(5.0)
        plugin = Propose("fast", set_targets(1, 1), interval=10)
        registry.add(InProcessTransport(plugin, clock), source="api", timeout_seconds=5, anchor=scheduler.offset_now())
        assert scheduler.base == 10  # the registry answers a registering plugin with the new base

    async with clock.autojump(), anyio.create_task_group() as group:
        group.start_soon(register_fast_plugin)
        await scheduler.run(max_ticks=4)
    assert starts == [0.0, 5.0, 15.0, 25.0]  # not at the old base's next slot (180)


async def test_when_the_fast_plugin_leaves_the_others_keep_their_schedule() -> None:
    clock = VirtualClock()
    registry = _registry(clock, 30, 5)
    starts: list[float] = []

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        starts.append(clock.monotonic())
        _running_due_plugins(registry, slot)
        if clock.monotonic() == 10.0:
            registry.remove("p1")

    scheduler = TickScheduler(clock, registry, None, tick)
    async with clock.autojump():
        await scheduler.run(max_ticks=5)
    assert starts == [0.0, 5.0, 10.0, 30.0, 60.0]  # p0, last run at 0, is due at 30, not at 10 + 30


async def test_an_explicit_base_is_used_when_it_divides_every_interval() -> None:
    clock = VirtualClock()
    starts: list[float] = []

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        starts.append(clock.monotonic())

    scheduler = TickScheduler(clock, _registry(clock, 6, 9), 1.5, tick)
    async with clock.autojump():
        await scheduler.run(max_ticks=4)
    assert starts == [0.0, 1.5, 3.0, 4.5]


async def test_stop_request_returns_without_another_tick() -> None:
    clock = VirtualClock()
    count = 0

    async def tick(tick_id: int, slot: Fraction, skipped: int) -> None:
        nonlocal count
        count += 1
        if count == 2:
            scheduler.request_stop()
            scheduler.request_stop()  # idempotent

    scheduler = TickScheduler(clock, _registry(clock, 5), None, tick)
    async with clock.autojump():
        stats = await scheduler.run()
    assert stats.ticks == 2
