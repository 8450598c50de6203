"""The simulated parts: requests, prefill and decode engines, and time-ordered latency logs."""

from __future__ import annotations

import bisect
from array import array
from collections import deque
from dataclasses import dataclass, field

__all__ = [
    "TimedSums",
    "TimedSeries",
    "ArrivalLog",
    "RequestOutcomes",
    "SimLog",
    "SimRequest",
    "Engine",
    "PrefillEngine",
    "DecodeEngine",
]


class TimedSums:
    """Rows logged in time order as running sums of their columns, for O(log n) windowed sums.
    Rows older than `horizon_s` before the latest are dropped (amortised), so a run of days keeps
    hours, not days, of them: a window may reach back that far, no further."""

    __slots__ = ("horizon_s", "sums", "times")

    def __init__(self, columns: int, horizon_s: float = 4 * 3600.0) -> None:
        self.times: list[float] = []
        # sums[c][i]: column c summed over every row logged before times[i] (so differences are windows)
        self.sums: list[list[float]] = [[0] for _ in range(columns)]
        self.horizon_s = horizon_s

    def _trim(self, t: float) -> None:
        times = self.times
        if len(times) > 1024 and times[len(times) // 2] < t - self.horizon_s:
            old = bisect.bisect_left(times, t - self.horizon_s)
            del times[:old]
            for column in self.sums:
                del column[:old]  # the sums stay absolute: differences between them do not change

    def span(self, start: float, end: float) -> tuple[int, int]:
        """The row indices [lo, hi) logged in (start, end]."""
        return bisect.bisect_right(self.times, start), bisect.bisect_right(self.times, end)

    def total(self, column: int, lo: int, hi: int) -> float:
        sums = self.sums[column]
        return sums[hi] - sums[lo]


class TimedSeries(TimedSums):
    """One value per time (a latency at each first token, say), with windowed means."""

    __slots__ = ()

    def __init__(self, horizon_s: float = 4 * 3600.0) -> None:
        super().__init__(1, horizon_s)

    def add(self, t: float, value: float) -> None:
        self.times.append(t)
        sums = self.sums[0]
        sums.append(sums[-1] + value)
        self._trim(t)

    def mean_between(self, start: float, end: float) -> float | None:
        """Mean of the values logged in (start, end], or None if there are none."""
        lo, hi = self.span(start, end)
        return self.total(0, lo, hi) / (hi - lo) if hi > lo else None


class ArrivalLog(TimedSums):
    """What the frontend counts as requests arrive: prompt and answer lengths and their squares,
    kept in integers so windowed variances are exact."""

    __slots__ = ()
    ISL, OSL, ISL_SQ, OSL_SQ = range(4)

    def __init__(self, horizon_s: float = 4 * 3600.0) -> None:
        super().__init__(4, horizon_s)

    def add(self, t: float, isl: int, osl: int) -> None:
        self.times.append(t)
        isl_sum, osl_sum, isl_sq, osl_sq = self.sums
        isl_sum.append(isl_sum[-1] + isl)
        osl_sum.append(osl_sum[-1] + osl)
        isl_sq.append(isl_sq[-1] + isl * isl)
        osl_sq.append(osl_sq[-1] + osl * osl)
        self._trim(t)


class RequestOutcomes:
    """Each finished request's TTFT and mean ITL (seconds), in the order they finished: 16 bytes a
    request instead of the request itself, so a run of days does not keep every request alive."""

    __slots__ = ("itl_s", "ttft_s")

    def __init__(self) -> None:
        self.ttft_s = array("d")
        self.itl_s = array("d")  # 0 for one-token answers, which have no inter-token gap

    def add(self, request: SimRequest) -> None:
        self.ttft_s.append(request.ttft_s)
        self.itl_s.append(request.itl_s)

    def __len__(self) -> int:
        return len(self.ttft_s)


@dataclass
class SimLog:
    """What the frontend would have measured: TTFT at each first token, mean ITL at each finish."""

    ttft: TimedSeries = field(default_factory=TimedSeries)
    itl: TimedSeries = field(default_factory=TimedSeries)


class SimRequest:
    __slots__ = ("arrival", "finish", "first_token", "isl", "osl", "target_progress")

    def __init__(self, arrival: float, isl: int, osl: int) -> None:
        self.arrival = arrival
        self.isl = isl
        self.osl = osl
        self.first_token = -1.0
        self.finish = -1.0
        self.target_progress = 0.0

    @property
    def ttft_s(self) -> float:
        return self.first_token - self.arrival

    @property
    def itl_s(self) -> float:
        """Mean inter-token latency after the first token (0 for one-token answers)."""
        return (self.finish - self.first_token) / (self.osl - 1) if self.osl > 1 else 0.0


class Engine:
    __slots__ = ("draining", "gone_at", "name", "ready_at", "requested_at")

    def __init__(self, name: str, requested_at: float, ready_at: float) -> None:
        self.name = name
        self.requested_at = requested_at
        self.ready_at = ready_at
        self.draining = False
        self.gone_at: float | None = None

    def is_ready(self, now: float) -> bool:
        return self.ready_at <= now and not self.draining and self.gone_at is None

    @property
    def load(self) -> float:
        """Tokens of work routed to this engine and not yet done (the routing score)."""
        raise NotImplementedError

    @property
    def idle(self) -> bool:
        raise NotImplementedError


class PrefillEngine(Engine):
    __slots__ = ("batch", "batch_ms", "batch_tokens", "queue", "queued_tokens", "ttft")

    def __init__(self, name: str, requested_at: float, ready_at: float) -> None:
        super().__init__(name, requested_at, ready_at)
        self.ttft = TimedSeries()  # what this engine's own TTFT histogram would show
        self.queue: deque[SimRequest] = deque()
        self.queued_tokens = 0
        self.batch: list[SimRequest] = []
        self.batch_tokens = 0
        self.batch_ms = 0.0

    @property
    def load(self) -> float:
        return self.queued_tokens + self.batch_tokens

    @property
    def idle(self) -> bool:
        return not self.batch and not self.queue


class DecodeEngine(Engine):
    __slots__ = (
        "count", "finishing", "itl_s", "last_t", "progress", "reserved", "sum_isl", "sum_start",
        "version", "waiting", "waiting_tokens",
    )  # fmt: skip

    def __init__(self, name: str, requested_at: float, ready_at: float) -> None:
        super().__init__(name, requested_at, ready_at)
        self.finishing: list[tuple[float, int, SimRequest]] = []  # (target progress, seq, request)
        self.waiting: deque[SimRequest] = deque()
        self.waiting_tokens = 0
        self.count = 0
        self.progress = 0.0  # decode steps every running request has taken since the engine started
        self.last_t = 0.0
        self.itl_s = 0.0
        self.sum_isl = 0
        self.sum_start = 0.0
        self.reserved = 0
        self.version = 0

    def kv_used(self) -> float:
        # Sums of floats: an empty batch can come out a hair below zero, which no engine reports.
        return max(0.0, self.sum_isl + self.count * self.progress - self.sum_start)

    @property
    def load(self) -> float:
        return self.reserved + self.waiting_tokens

    @property
    def idle(self) -> bool:
        return self.count == 0 and not self.waiting
