"""How far the load came in above the forecasts at the sizing horizon: the margin, new levels, trust."""

from __future__ import annotations

import math
from collections import deque

from .burstiness import bursty_share

__all__ = ["ForecastErrors", "LEVEL_SHIFT_Z", "PEAK_HEADROOM", "POISSON_Z"]


POISSON_Z = 1.28  # the 90th percentile of a count's Poisson noise, in standard deviations


class ForecastErrors:
    """How far the load came in above the forecasts this proposer was given, at the horizon it sizes
    for: the observed count of each interval against what was forecast for it `first..last`
    intervals earlier. Sizing for the forecast plus a high quantile of these misses holds capacity
    for bursts a forecast cannot see coming, and costs little where forecasts are good.

    Paths are kept by the time they were made, so a tick the proposer missed (no observation, a
    skipped slot) does not shift which forecast an observed interval is held against.

    Until enough forecasts have come due, the counts themselves stand in: how far the load rose
    within a horizon so far (a start-up ahead of the first forecast that could be scored, a cold
    deployment would otherwise size a rising load for a flat forecast with no margin)."""

    def __init__(self, interval_s: float, quantile: float = 0.9, keep: int = 24) -> None:
        self.interval_s = interval_s
        self.quantile = quantile
        self._paths: deque[tuple[float, list[float]]] = deque(maxlen=16)  # (made at, path), newest first
        self._misses: deque[tuple[float, float]] = deque(maxlen=keep)  # (forecast made at, miss)
        self._counts: deque[tuple[float, float]] = deque(maxlen=keep)  # (interval ending at, count)
        self._steps = (1, 1)
        self._forgiven: tuple[float, float] = (-math.inf, 1.0)  # (made at or before, share of a miss kept)
        self.surprise: float | None = None  # the last count less the forecast made for it an interval before

    def observe(self, now: float, count: float, first: int, last: int) -> None:
        """`count`: requests in the interval ending at `now`, which a path made k intervals earlier
        forecast at its k-th step."""
        self.surprise = None
        for made_at, path in self._paths:
            k = round((now - made_at) / self.interval_s)
            if k == 1 and path:
                self.surprise = count - path[0]
            if first <= k <= last and k <= len(path):
                # Poisson noise around a right forecast is the queueing models' to absorb: count beyond it.
                forecast = path[k - 1]
                miss = count - forecast - POISSON_Z * math.sqrt(max(forecast, 1.0))
                self._misses.append((made_at, miss * self._kept(made_at)))
        self._counts.append((now, count))
        self._steps = (first, last)

    def forgive(self, made_by: float, kept: float) -> None:
        """A new level was seen: the misses of forecasts made at or before `made_by`, which could
        not have seen it, keep only `kept` of their size (0 on smooth arrivals, where the new level
        is sized for as such, 1 on bursty ones, where it may be a burst that comes back), and so do
        those still to come due."""
        self._forgiven = (made_by, kept)
        self._misses = deque(((at, miss * self._kept(at)) for at, miss in self._misses), maxlen=self._misses.maxlen)

    def at_least_the_new_level(self, now: float, path: list[float], trust: float, kept: float) -> list[float]:
        """`path` held at least at the last count where that count is a new level, not a fluke: far
        beyond the noise of the count before it, of the forecast made for it and of `path`'s first
        step. `trust`: how smooth the arrivals read (1 Poisson-like, 0 bursty, which make such
        counts by chance); the floor is blended by it. `kept`: the share of a forgiven miss kept.

        - The path is held at least at it: forecasters that average the past need another interval
          or two to trust it, and that is an interval more caught short (a step up measured: SLA
          84.8 -> 90.2 %).
        - The misses of the forecasts made before it, which could not have seen it, are what the
          path now sizes for: they are forgiven (`forgive`). (Counted again as a margin, they held
          6P where 4P served a fourfold step.)

        A trend forecaster that already reaches the count takes it for a rise, and its lag on the
        rise so far stays in the margin. So does a count above forecasts of a fall but not above the
        count before: that is a turn, where forecasts that ran on keep missing."""
        level, before, surprise = self.last_count, self.count_before, self.surprise
        if level is None or before is None or surprise is None or trust <= 0.0:
            return path
        rise = min(surprise, level - path[0], level - before)
        if rise <= LEVEL_SHIFT_Z * math.sqrt(max(level - surprise, path[0], before, 1.0)):
            return path
        self.forgive(now - self.interval_s / 2, kept)
        return [n + trust * max(0.0, level - n) for n in path]

    def as_the_last_rise(self, path: list[float], trust: float) -> list[float]:
        """`path` lifted, where the load turns up from well below its peak, to follow the last rise
        remembered through the same level: the next rise of a load that has risen and fallen before is
        taken to be like the last, until forecasts have seen it (a forecaster that reads a period needs
        two cycles; a trend one reads the turn as noise about the fall before it). `trust`: how smooth
        the arrivals read, as for `at_least_the_new_level` (bursty arrivals turn up and fall back by
        chance). Long prompts every 12 min (tight), the second rise served from a decision earlier:
        SLA 89.1 -> 90.7 % at 1.205 -> 1.196 x the oracle; decode-heavy every 20 min 94.7 -> 96.2 % at
        1.150 -> 1.181; chat every 15 min 97.97 -> 98.23 % at 1.147 -> 1.156. Loose, on long prompts
        every 12 min, the engines asked early count as draining the backlog left meanwhile, and the
        next decision asked for fewer: 87.5 -> 85.9 %."""
        level, before, surprise = self.last_count, self.count_before, self.surprise
        if level is None or before is None or surprise is None or trust <= 0.0 or not path:
            return path
        if level > TURN_BELOW_PEAK * self.peak:
            return path
        if min(surprise, level - before) <= LEVEL_SHIFT_Z * math.sqrt(max(before, path[0], 1.0)):
            return path
        counts = [count for _, count in self._counts]
        # The latest interval the counts rose through this level at, with a path's length after it
        # (shifted down to start from the level, so never above the peak it reached).
        for j in range(len(counts) - len(path) - 2, 0, -1):
            if counts[j - 1] < level <= counts[j]:
                followed = [level + count - counts[j] for count in counts[j + 1 : j + 1 + len(path)]]
                return [n + trust * max(0.0, m - n) for n, m in zip(path, followed, strict=True)]
        return path

    def _kept(self, made_at: float) -> float:
        made_by, kept = self._forgiven
        return kept if made_at <= made_by else 1.0

    def remember(self, now: float, path: list[float]) -> None:
        self._paths.appendleft((now, list(path)))

    def margin(self, burstiness: float = 1.0, forecast_rise: float = 0.0) -> float:
        """Requests per interval to add to a forecast (`_naive_margin` until enough misses are known).

        On smooth (Poisson-like) arrivals a miss comes from the load changing shape, a step or a
        turn, which the forecasts absorb within a horizon or two: only the recent misses say how
        wrong they are now (a quartile of the last six). Bursty arrivals miss at random and again:
        the whole memory counts, at its 90th percentile (24 intervals: remembered for 12, a burst's
        margin had lapsed by the time the next came; on Azure code x20, SLA 67.9 -> 70.9 % at 0.73 ->
        0.79 x the oracle). Between the two, the margin is blended by how bursty the traffic reads
        (`burstiness` 1: Poisson; 2 and more: bursty). `forecast_rise`: how far the forecast being
        sized for already rises above the last count by the horizon."""
        if not self.proven:
            return self._naive_margin(forecast_rise)
        misses = [miss for _, miss in self._misses]
        smooth = _quantile(misses[-SMOOTH_KEEP:], SMOOTH_QUANTILE)
        bursty = _quantile(misses, self.quantile)
        weight = bursty_share(burstiness)
        return max(0.0, smooth + weight * (bursty - smooth))

    def margined(self, path: list[float], margin: float, bursty_share: float) -> list[float]:
        """`path` plus `margin`. Once forecasts have a record, on smooth arrivals (`bursty_share` 0)
        the margin holds capacity up to `PEAK_HEADROOM` above the highest count remembered, not
        beyond: their misses say how far the load strays within what it has done; a load higher
        than that is a rise for the forecast itself to see. (Misses of a trend run down to zero at
        a trough, or lagging a steep rise, otherwise sized the next cycle of a periodic load far
        above its peak: periodic 10 min asked 9-10P where the peak needed 5P; periodic 10 min
        1.32 -> 1.26 x the oracle at the same SLA, decode-heavy tight 1.148 -> 1.124.) Before
        forecasts are proven, the margin is the counts' own rise, which a new rise must be free to
        exceed. Bursty arrivals, whose next burst need not resemble the last ones, keep it whole."""
        with_margin = [n + margin for n in path]
        if not self.proven:
            return with_margin
        ceiling = self.peak * (1.0 + PEAK_HEADROOM)
        return [
            max(n, m - (1.0 - bursty_share) * max(0.0, m - ceiling)) for n, m in zip(path, with_margin, strict=True)
        ]

    @property
    def last_count(self) -> float | None:
        return self._counts[-1][1] if self._counts else None

    @property
    def proven(self) -> bool:
        """Whether enough forecasts have come due for the margin to be their misses'."""
        return len(self._misses) >= MIN_MISSES

    @property
    def peak(self) -> float:
        """The highest count remembered (as long as the misses are)."""
        return max((count for _, count in self._counts), default=0.0)

    @property
    def count_before(self) -> float | None:
        """The count of the interval before the last."""
        return self._counts[-2][1] if len(self._counts) > 1 else None

    def trusted(self, burstiness: float = 1.0) -> bool:
        """Whether the forecasts have lately come true: enough of them have come due, and they need
        no margin."""
        return self.proven and self.margin(burstiness) <= 0.0

    def _naive_margin(self, forecast_rise: float) -> float:
        """The margin a flat forecast made `first..last` intervals before each count seen would have
        needed beyond the Poisson noise of the two counts compared (where the counts do not reach
        that far back, k times one interval's rise beyond its noise), less what the forecast being
        sized for already rises (a trend forecaster that extrapolates the rise needs no flat
        forecast's margin on top: periodic 10 min paid 0.05 x the oracle for it), and at least
        `UNPROVEN_MISS` of the load: forecasts not yet held against any count are not trusted to
        within less. (A periodic load starting from its trough rose a fifth a minute while the
        first counts read flat: decode-heavy tight lost 2.2 % of its requests in its first minutes.)"""
        counts = list(self._counts)
        first, last = self._steps
        misses = []
        for i in range(1, len(counts)):
            for k in range(first, last + 1):
                lag = k if i >= k else 1
                at, base = counts[i - lag]  # a flat forecast made then
                rise = counts[i][1] - base - POISSON_Z * math.sqrt(2.0 * max(base, 1.0))
                misses.append(rise * k / lag * self._kept(at))
        if not counts:
            return 0.0
        # A jump past double in one interval is as likely a burst as a trend: the margin at most doubles the load.
        risen = min(counts[-1][1], max(0.0, _quantile(misses[-SMOOTH_KEEP:], SMOOTH_QUANTILE))) if misses else 0.0
        return max(risen - max(0.0, forecast_rise), UNPROVEN_MISS * counts[-1][1])


MIN_MISSES = 5
UNPROVEN_MISS = 0.25  # the share of the load forecasts are taken to miss by until MIN_MISSES have come due
PEAK_HEADROOM = 0.25  # how far above the highest count remembered a proven margin may size smooth traffic
LEVEL_SHIFT_Z = 3.0  # a count this many Poisson deviations above its forecast is a new level on smooth traffic
TURN_BELOW_PEAK = 0.6  # a turn up from at most this share of the highest count remembered may rise as before
SMOOTH_KEEP = 6
SMOOTH_QUANTILE = 0.75


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]
