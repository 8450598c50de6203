"""Injected time: the wall clock for production and a virtual clock that skips idle time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
    nullcontext,
)
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = ["Clock", "Deadline", "WallClock", "ScaledClock", "VirtualClock"]


class Deadline:
    """Yielded by `Clock.move_on_at`: after the block, `expired` tells whether the deadline cut it short."""

    __slots__ = ("expired",)

    def __init__(self) -> None:
        self.expired = False


@runtime_checkable
class Clock(Protocol):
    """The only source of time in the planner core and the builtin plugins."""

    def now(self) -> float:
        """Seconds since the Unix epoch, for records and logs."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for scheduling and deadlines."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once `monotonic()` has reached `deadline`."""
        ...

    def move_on_at(self, deadline: float) -> AbstractAsyncContextManager[Deadline]:
        """An async context whose body is cancelled at `deadline` (monotonic)."""
        ...

    def busy(self) -> AbstractContextManager[None]:
        """Mark work the clock cannot see (a worker thread): virtual time waits for it."""
        ...

    @property
    def speed(self) -> float:
        """Clock seconds per wall second: 1, but for a clock sped up to drive a simulation."""
        ...

    def unscaled(self) -> Clock:
        """This clock without its speed-up: what other processes' deadlines, leases and
        heartbeats run on (a plugin's process answers no faster because the simulation is)."""
        ...


class WallClock:
    """Real time: the event loop's monotonic clock and the system's epoch time."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - time.monotonic()))

    def move_on_at(self, deadline: float) -> AbstractAsyncContextManager[Deadline]:
        return _wall_scope(deadline)

    def busy(self) -> AbstractContextManager[None]:
        return nullcontext()

    @property
    def speed(self) -> float:
        return 1.0

    def unscaled(self) -> Clock:
        return self


def _wall_scope(deadline: float) -> AbstractAsyncContextManager[Deadline]:
    return _wall_scope_in(deadline - time.monotonic())


@asynccontextmanager
async def _wall_scope_in(seconds: float) -> AsyncIterator[Deadline]:
    status = Deadline()
    with anyio.CancelScope(deadline=anyio.current_time() + seconds) as scope:
        yield status
    status.expired = scope.cancel_called


class ScaledClock:
    """Real time sped up by `speed`: for watching a simulated deployment at a human pace."""

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed={speed!r} must be > 0")
        self._speed = speed
        self._origin = time.monotonic()
        self._epoch = time.time()
        self._wall = WallClock()

    def restart(self) -> None:
        """Start simulated time again from zero (so slow start-up work does not eat into it)."""
        self._origin = time.monotonic()
        self._epoch = time.time()

    def now(self) -> float:
        return self._epoch + self.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self._speed

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, (deadline - self.monotonic()) / self._speed))

    def move_on_at(self, deadline: float) -> AbstractAsyncContextManager[Deadline]:
        return _wall_scope_in(max(0.0, (deadline - self.monotonic()) / self._speed))

    def busy(self) -> AbstractContextManager[None]:
        return nullcontext()

    @property
    def speed(self) -> float:
        return self._speed

    def unscaled(self) -> Clock:
        return self._wall


class _Timer:
    __slots__ = ("action", "cancelled")

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.cancelled = False


class VirtualClock:
    """Simulated time that jumps to the next deadline whenever every task is waiting.

    Run the code under test inside `async with clock.autojump():`. Work that the clock cannot
    see waiting on it (a worker thread) is wrapped in `clock.busy()` so time stands still
    until it finishes.
    """

    def __init__(self, start: float = 0.0, epoch: float = 1_700_000_000.0) -> None:
        self._now = start
        self._epoch = epoch - start
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._changed = anyio.Event()

    def now(self) -> float:
        return self._epoch + self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        wake = anyio.Event()
        timer = self._call_at(deadline, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancelled = True

    def move_on_at(self, deadline: float) -> AbstractAsyncContextManager[Deadline]:
        return self._virtual_scope(deadline)

    @asynccontextmanager
    async def _virtual_scope(self, deadline: float) -> AsyncIterator[Deadline]:
        status = Deadline()
        with anyio.CancelScope() as scope:

            def expire() -> None:
                status.expired = True
                scope.cancel()

            timer = self._call_at(deadline, expire)
            try:
                yield status
            finally:
                timer.cancelled = True

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Hold time still while work the clock cannot observe (a thread) is running."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._notify()

    @property
    def speed(self) -> float:
        return 1.0

    def unscaled(self) -> Clock:
        # Tests skip every wait, a plugin's lease and a call's timeout as much as a tick.
        return self

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, firing every timer whose deadline passed."""
        self._set_time(self._now + seconds)

    @asynccontextmanager
    async def autojump(self) -> AsyncIterator[VirtualClock]:
        """Advance time by itself while the body runs, whenever every other task is blocked."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._jump_forever)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    def _call_at(self, deadline: float, action: Callable[[], None]) -> _Timer:
        timer = _Timer(action)
        heapq.heappush(self._timers, (deadline, next(self._seq), timer))
        self._notify()
        return timer

    def _next_deadline(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    async def _jump_forever(self) -> None:
        while True:
            if self._busy or self._next_deadline() is None:
                self._changed = anyio.Event()
                await self._changed.wait()
                continue
            if await _all_other_tasks_blocked() and not self._busy:
                deadline = self._next_deadline()
                if deadline is not None:
                    self._set_time(max(self._now, deadline))

    def _set_time(self, value: float) -> None:
        self._now = value
        while self._timers and self._timers[0][0] <= self._now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.action()

    def _notify(self) -> None:
        self._changed.set()


async def _all_other_tasks_blocked() -> bool:
    """True once the loop is idle: nothing is ready to run and every other task awaits a future.

    anyio's own `wait_all_tasks_blocked` polls every 100 ms, far too slow for a clock that
    should run a simulated day in under a second, so this yields with zero-length sleeps. The
    ready-queue check matters: a cancellation is delivered by a scheduled callback, and until it
    runs the cancelled task still looks blocked. Returns False if the loop stays busy for many
    rounds (the caller simply asks again).
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)  # asyncio's queue of callbacks due now
    this_task = asyncio.current_task()
    for _ in range(64):
        await asyncio.sleep(0)
        if ready:
            continue
        for task in asyncio.all_tasks():
            if task is this_task:
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                break
        else:
            return True
    return False
