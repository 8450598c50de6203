"""The virtual clock skips idle time, holds still for busy threads, and drives deadlines."""

from __future__ import annotations

import threading

import anyio
import pytest

from planner import ScaledClock, VirtualClock, WallClock

pytestmark = pytest.mark.anyio


async def test_sleep_until_jumps_straight_to_the_deadline() -> None:
    clock = VirtualClock()
    async with clock.autojump():
        await clock.sleep_until(3600.0)
    assert clock.monotonic() == 3600.0


async def test_sleepers_wake_in_deadline_order() -> None:
    clock = VirtualClock()
    woke: list[float] = []

    async def sleeper(t: float) -> None:
        await clock.sleep_until(t)
        woke.append(clock.monotonic())

    async with clock.autojump(), anyio.create_task_group() as group:
        for t in (30.0, 10.0, 20.0):
            group.start_soon(sleeper, t)
    assert woke == [10.0, 20.0, 30.0]


async def test_time_stands_still_while_a_thread_is_busy() -> None:
    clock = VirtualClock()
    release = threading.Event()
    seen: list[float] = []

    def work() -> None:
        release.wait(5)

    async def waiter() -> None:
        await clock.sleep_until(100.0)
        seen.append(clock.monotonic())

    async with clock.autojump(), anyio.create_task_group() as group:
        group.start_soon(waiter)
        with clock.busy():
            async with anyio.create_task_group() as inner:
                inner.start_soon(anyio.to_thread.run_sync, work)
                await anyio.sleep(0.05)  # real time passes; virtual time must not
                assert clock.monotonic() == 0.0
                release.set()
    assert seen == [100.0]


async def test_move_on_at_cancels_the_body_at_the_virtual_deadline() -> None:
    clock = VirtualClock()
    async with clock.autojump(), clock.move_on_at(7.5) as scope:
        await clock.sleep_until(1000.0)
    assert scope.expired
    assert clock.monotonic() == 7.5


async def test_a_simulated_day_of_five_second_ticks_completes() -> None:
    clock = VirtualClock()
    ticks = 0
    async with clock.autojump():
        while clock.monotonic() < 86_400:
            await clock.sleep_until(clock.monotonic() + 5)
            ticks += 1
    assert ticks == 86_400 // 5


def test_now_is_epoch_time_moving_with_monotonic() -> None:
    clock = VirtualClock(epoch=1_000_000.0)
    clock.advance(12.5)
    assert clock.now() == 1_000_012.5


def test_a_scaled_clock_runs_its_speed_and_hands_out_wall_time_unscaled() -> None:
    clock = ScaledClock(20.0)
    assert clock.speed == 20.0
    assert isinstance(clock.unscaled(), WallClock)
    assert clock.unscaled().speed == 1.0


def test_the_wall_and_virtual_clocks_are_their_own_unscaled_clocks() -> None:
    wall, virtual = WallClock(), VirtualClock()
    assert wall.unscaled() is wall
    assert wall.speed == 1.0
    assert virtual.unscaled() is virtual  # tests skip plugin leases as they skip ticks
    assert virtual.speed == 1.0
