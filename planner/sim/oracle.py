"""The oracle: per window, the fewest engines that serve that window's requests within the SLA."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

from planner_plugins.perf import PerfModel
from planner_plugins.traces import Trace, TraceRequest, iter_windows
from planner_sdk import Role

from .cluster import SimCluster, SimSettings
from .engines import SimRequest
from .score import targets_met

__all__ = ["OracleWindow", "OracleResult", "billed_engine_seconds", "oracle_sizing"]

MAX_ENGINES = 128
# TTFT ends when the KV cache leaves the prefill engine, so the decode pool cannot change it:
# the prefill search runs with a single decode engine, which keeps each trial cheap.
_ANY_DECODE = 1


@dataclass(frozen=True)
class OracleWindow:
    index: int
    requests: int
    prefill: int
    decode: int
    attainment: float
    feasible: bool


@dataclass(frozen=True)
class OracleResult:
    window_s: float
    windows: list[OracleWindow]
    gpu_hours: float  # billed as the cluster bills a policy: start-ups included
    max_gpus: int | None = None  # the GPU budget it honoured
    startup_gpu_hours: float = 0.0  # the part of gpu_hours spent starting engines or keeping them through lulls

    @property
    def infeasible(self) -> int:
        """Windows no fleet (within the budget) serves at the target attainment."""
        return sum(not w.feasible for w in self.windows)

    @property
    def first_fleet(self) -> tuple[int, int]:
        return (self.windows[0].prefill, self.windows[0].decode) if self.windows else (1, 1)

    @property
    def peak_fleet(self) -> tuple[int, int]:
        if not self.windows:
            return (1, 1)
        return (max(w.prefill for w in self.windows), max(w.decode for w in self.windows))


def _smallest(predicate: Callable[[int], bool], low: int) -> int | None:
    """Smallest n >= low with predicate(n), assuming it is monotone; None if not by MAX_ENGINES."""
    if predicate(low):
        return low
    high = low
    while True:
        previous, high = high, min(MAX_ENGINES, high * 2)
        if predicate(high):
            break
        if high == MAX_ENGINES:
            return None
    lo = previous  # fails
    while high - lo > 1:
        mid = (lo + high) // 2
        if predicate(mid):
            high = mid
        else:
            lo = mid
    return high


@dataclass(frozen=True)
class _Window:
    """One window's requests after the previous window's, which the fleet sized for that window was
    still serving when this one began (a request can decode for longer than a window)."""

    requests: list[TraceRequest]  # rebased: the previous window's from 0, this one's from `start`
    start: float
    previous_fleet: tuple[int, int] | None  # None for the first window, which starts empty

    @cached_property
    def scored(self) -> int:
        return sum(r.arrival >= self.start for r in self.requests)


def _attainment(
    window: _Window,
    perf: PerfModel,
    settings: SimSettings,
    sla: tuple[float, float],
    prefill: int,
    decode: int,
) -> tuple[float, float]:
    """(TTFT attainment, SLA attainment) over the window's own requests of a fleet of this size that
    takes over, at the window's start and ready at once, from the one that served the previous window."""
    first = window.previous_fleet or (prefill, decode)
    cluster = SimCluster(perf, window.requests, {Role.PREFILL: first[0], Role.DECODE: first[1]}, settings)
    met = [0, 0]

    def count(request: SimRequest) -> None:
        if request.arrival >= window.start:
            ttft_ok, itl_ok = targets_met(request.ttft_s, request.itl_s, *sla)
            met[0] += ttft_ok
            met[1] += ttft_ok and itl_ok

    cluster.on_complete.append(count)
    if window.previous_fleet is not None:
        cluster.advance_to(math.nextafter(window.start, -math.inf))
        cluster.set_replicas(Role.PREFILL, prefill)
        cluster.set_replicas(Role.DECODE, decode)
    cluster.run_until_drained()
    scored = window.scored
    return met[0] / scored, met[1] / scored


def _size_window(
    window: _Window,
    perf: PerfModel,
    settings: SimSettings,
    sla: tuple[float, float],
    minimum: tuple[int, int],
    target: float,
) -> tuple[int, int, float, bool]:
    """(prefill, decode, attainment, feasible) for one window's requests."""

    def ttft_ok(goal: float) -> Callable[[int], bool]:
        return lambda p: _attainment(window, perf, settings, sla, p, _ANY_DECODE)[0] >= goal

    def sla_ok(prefill: int, goal: float) -> Callable[[int], bool]:
        return lambda d: _attainment(window, perf, settings, sla, prefill, d)[1] >= goal

    feasible = True
    prefill = _smallest(ttft_ok(target), minimum[0])
    if prefill is None:
        feasible = False
        ceiling = _attainment(window, perf, settings, sla, MAX_ENGINES, _ANY_DECODE)[0]
        prefill = _smallest(ttft_ok(ceiling - 1e-3), minimum[0]) or MAX_ENGINES
    goal = target if feasible else _attainment(window, perf, settings, sla, prefill, MAX_ENGINES)[1] - 1e-3
    decode = _smallest(sla_ok(prefill, goal), minimum[1])
    if decode is None:
        feasible = False
        ceiling = _attainment(window, perf, settings, sla, prefill, MAX_ENGINES)[1]
        decode = _smallest(sla_ok(prefill, ceiling - 1e-3), minimum[1]) or MAX_ENGINES
    return prefill, decode, _attainment(window, perf, settings, sla, prefill, decode)[1], feasible


def _within_budget(
    prefill: int, decode: int, minimum: tuple[int, int], settings: SimSettings, max_gpus: int
) -> tuple[int, int]:
    """Give back one engine at a time from the role using more GPUs until the fleet fits (as safety does)."""
    gp, gd = settings.prefill_gpus_per_engine, settings.decode_gpus_per_engine
    while prefill * gp + decode * gd > max_gpus:
        if prefill * gp >= decode * gd and prefill > minimum[0]:
            prefill -= 1
        elif decode > minimum[1]:
            decode -= 1
        elif prefill > minimum[0]:
            prefill -= 1
        else:
            break
    return prefill, decode


def billed_engine_seconds(counts: list[int], spans: list[float], startup_s: float) -> tuple[float, float]:
    """(serving, starting) engine-seconds of a role's per-window counts, billed as the cluster bills a
    policy: an engine from when it is asked for. So each engine added costs its start-up, asked for
    that long before the window needing it; one needed again within a start-up delay is cheaper kept
    through the lull; the first window's engines are there at the start, as every policy's are."""
    serving = sum(c * span for c, span in zip(counts, spans, strict=True))
    starting = 0.0
    for level in range(1, max(counts, default=0) + 1):
        needed_before = False
        lull = 0.0
        for count, span in zip(counts, spans, strict=True):
            if count < level:
                lull += span if needed_before else 0.0
                continue
            if needed_before:
                starting += min(lull, startup_s)
            elif counts[0] < level:
                starting += startup_s
            needed_before, lull = True, 0.0
    return serving, starting


def oracle_sizing(
    trace: Trace,
    perf: PerfModel,
    settings: SimSettings,
    *,
    window_s: float,
    ttft_ms: float,
    itl_ms: float,
    min_prefill: int = 1,
    min_decode: int = 1,
    target: float = 0.99,
    max_gpus: int | None = None,
) -> OracleResult:
    """For each window, search the fewest prefill engines meeting TTFT for `target` of its requests,
    then the fewest decode engines meeting both targets, each trial taking over (ready at once) from
    the fleet found for the previous window with that window's requests still in flight. A window
    no count can satisfy takes the count past which attainment stops improving, and is reported as
    infeasible; so is a window whose fleet does not fit in `max_gpus` (it is cut to fit, as the
    planner's safety would, and scored so)."""
    windows: list[OracleWindow] = []
    spans: list[float] = []
    previous: list[TraceRequest] = []
    instant = replace(settings, startup_delay_s=0.0)
    for index, requests in iter_windows(trace, window_s):
        start = index * window_s
        # The previous window's requests are rebased to start at 0, this one's at `window_s`.
        origin = start - window_s if windows else start
        rebased = [TraceRequest(r.arrival - origin, r.isl, r.osl) for r in previous + requests]
        fleet = (windows[-1].prefill, windows[-1].decode) if windows else None
        window = _Window(rebased, start - origin, fleet)
        if requests:
            prefill, decode, attained, feasible = _size_window(
                window, perf, instant, (ttft_ms, itl_ms), (min_prefill, min_decode), target
            )
            if max_gpus is not None and max_gpus >= 0:
                fitted = _within_budget(prefill, decode, (min_prefill, min_decode), settings, max_gpus)
                if fitted != (prefill, decode):
                    prefill, decode = fitted
                    sla = (ttft_ms, itl_ms)
                    attained, feasible = _attainment(window, perf, instant, sla, prefill, decode)[1], False
        else:
            prefill, decode, attained, feasible = min_prefill, min_decode, 1.0, True
        previous = requests
        windows.append(OracleWindow(index, len(requests), prefill, decode, attained, feasible))
        spans.append(min(window_s, max(0.0, trace.duration - start)))
    serving = starting = 0.0
    for counts, gpus in (([w.prefill for w in windows], settings.prefill_gpus_per_engine),
                         ([w.decode for w in windows], settings.decode_gpus_per_engine)):  # fmt: skip
        role_serving, role_starting = billed_engine_seconds(counts, spans, settings.startup_delay_s)
        serving, starting = serving + role_serving * gpus, starting + role_starting * gpus
    return OracleResult(window_s, windows, (serving + starting) / 3600.0, max_gpus, starting / 3600.0)
