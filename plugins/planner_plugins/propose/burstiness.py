"""How bursty arrivals are: the frontend's per-window dispersion, told apart from Poisson noise."""

from __future__ import annotations

import math
from collections import deque

__all__ = [
    "DISPERSION_SLICE_S",
    "Burstiness",
    "bursty_share",
    "excess_dispersion",
    "poisson_dispersion_quantile",
    "straddles_a_level_change",
]

DISPERSION_SLICE_S = 10.0  # arrival_dispersion is counted over slices this long (the SDK's definition)
POOLED_WINDOWS = 10  # windows pooled for the steady reading (ten minutes at a 60 s interval)
POOLED_Z = 1.645  # the pooled reading discounts the 95th percentile of Poisson noise
SINGLE_Z = 3.09  # one window counts alone beyond the 99.9th: no more than one Poisson window in 1000
MEMORY = 0.9  # a burst seen in one window is remembered a tenth less each window after
LEVEL_CHANGE = 1.5  # neighbouring counts this far apart (and far beyond Poisson noise) are two levels
LEVEL_CHANGE_Z = 5.0
PEAK_Z = 5.0
"""A window's busiest slice, in deviations of its slices' counts (see `Burstiness.peak_rate`). Clustered
arrivals bunch within a slice too, where the slices' spread does not see them: at 4, the ceiling
bound on Mooncake conversation x5 (99.003 -> 98.996 % SLA); at 2.6 it cost a point there."""
PEAK_WINDOWS = 24  # windows the peak is remembered over: the bursty forecast margin's memory
WITHIN_DOF = 4  # degrees of freedom per slice of the within-slice dispersion: five 2 s counts less their mean


def bursty_share(burstiness: float) -> float:
    """How far sizing treats arrivals as bursty rather than Poisson: 0 at a dispersion of 1, all of
    the way from twice that on, linearly between."""
    return min(1.0, max(0.0, burstiness - 1.0))


def _dof(window_s: float) -> float:
    """Degrees of freedom of one window's dispersion: its slices less the trend's two."""
    return max(1.0, window_s / DISPERSION_SLICE_S - 2.0)


def poisson_dispersion_quantile(dof: float, z: float) -> float:
    """The `z` quantile of the dispersion Poisson arrivals read over `dof` degrees of freedom:
    chi-square(dof) / dof, by the Wilson-Hilferty cube (within 2 % from dof = 4 up)."""
    c = 2.0 / (9.0 * dof)
    root = max(0.0, 1.0 - c + z * math.sqrt(c))
    return root * root * root


def excess_dispersion(observed: float, window_s: float, z: float = POOLED_Z) -> float:
    """The dispersion a window shows beyond what Poisson arrivals show by chance in so few slices.

    k times a Poisson stream's dispersion over k degrees of freedom is chi-square(k), so a 60 s
    window (k = 4) reads anywhere from 0.3 to 1.9 and, once in a thousand windows, 4.6. What the
    `z` quantile of that noise reads beyond 1 is discounted."""
    return observed - (poisson_dispersion_quantile(_dof(window_s), z) - 1.0)


def straddles_a_level_change(before: float, count: float, after: float) -> bool:
    """Whether a window whose count lies between its neighbours', which differ by half as much again
    and by more than `LEVEL_CHANGE_Z` Poisson deviations, held the change from one level to the next."""
    low, high = min(before, after), max(before, after)
    if not low < count < high or high < LEVEL_CHANGE * low:
        return False
    return high - low > LEVEL_CHANGE_Z * math.sqrt(high)


class Burstiness:
    """Arrivals' variance over mean per slice (1: Poisson), from the windows seen.

    Two readings, the larger counts. The pooled one averages the last `POOLED_WINDOWS` windows, so
    its noise is small enough to tell moderately bursty traffic from Poisson. A single window counts
    alone only beyond what Poisson shows once in a thousand windows, and is remembered for a while,
    since bursts come back. (Remembering the largest single reading at the 95th percentile instead
    read an hour of Poisson traffic as 1.5 to 2.5 times burstier than it is, and sized for it.)

    A window is read as it comes, and taken back once the next window's count shows that it straddled
    a change of level: its slices, before and after the change, were two levels, not bursts (a fourfold
    step 10 s into a window read as a dispersion of 33, and sized the next half hour as bursty). If the
    window after that falls back past half way, the level did not hold: it was a burst after all, and
    the reading stands again (90 s bursts straddling two windows lost 7 to 12 points of SLA without)."""

    def __init__(self) -> None:
        self._windows: deque[tuple[float, float]] = deque(maxlen=POOLED_WINDOWS)  # (dispersion, dof)
        self._single = 1.0
        self.value = 1.0
        self.measured = False  # no window has said yet: the value is Poisson's by default, not by reading
        self._counts: deque[float] = deque(maxlen=2)  # the last windows' counts, for the level check
        self._single_before = 1.0  # the single-window memory before the last window was read
        self._taken_back: tuple[float, float, float] | None = None  # (reading, level before, level after)
        self._peaks: deque[float] = deque(maxlen=PEAK_WINDOWS)
        self._within: deque[tuple[float, float]] = deque(maxlen=POOLED_WINDOWS)  # (within-slice dispersion, dof)

    @property
    def peak_rate(self) -> float | None:
        """Requests/s the busiest 10 s slice of the windows remembered reached, at `PEAK_Z` deviations
        of its window's slices (their dispersion says how far they spread): None before a counted window.

        A fleet that serves this rate as Poisson arrivals serves every slice the windows showed, so it
        bounds what the dispersion should cost. Sized as if the dispersion were at the queue's own time
        scale, a window whose slices swing between two levels reads as very bursty (on-off bursts of
        45 s every 7.5 min: a dispersion of 50, and 17P 13D held where the bursts need 2P 4D)."""
        return max(self._peaks) if self._peaks else None

    def observe(
        self,
        dispersion: float,
        window_s: float,
        count: float | None = None,
        busiest: float | None = None,
        within: float | None = None,
    ) -> None:
        """One window's reading: its slices' `dispersion` and, where the frontend reports them, its
        request `count`, its `busiest` slice's requests and the bunching `within` its slices."""
        self.measured = True
        dof = _dof(window_s)
        if within is not None and window_s >= DISPERSION_SLICE_S:
            self._within.append((within, WITHIN_DOF * (window_s // DISPERSION_SLICE_S)))
        if count is not None:
            if window_s > 0:
                self._peaks.append(self._peak(count / window_s, dispersion, busiest))
            self._level_held(count, window_s)
            if len(self._counts) == 2 and straddles_a_level_change(self._counts[0], self._counts[1], count):
                self._taken_back = (self._windows[-1][0], self._counts[0], count)
                self._windows[-1] = (1.0, self._windows[-1][1])
                self._single = self._single_before
            self._counts.append(count)
        self._single_before = self._single
        self._windows.append((dispersion, dof))
        total = sum(d for _, d in self._windows)
        pooled = sum(x * d for x, d in self._windows) / total
        pooled_excess = pooled - (poisson_dispersion_quantile(total, POOLED_Z) - 1.0)
        single = excess_dispersion(dispersion, window_s, SINGLE_Z)
        self._single = max(single, 1.0 + MEMORY * (self._single - 1.0))
        self.value = min(max(pooled_excess, self._single, 1.0), 50.0)

    def _peak(self, rate: float, dispersion: float, busiest: float | None) -> float:
        """A window's busiest slice as a rate: `PEAK_Z` deviations of its slices above its mean, or,
        where the frontend counts it, the busiest slice itself with `PEAK_Z` deviations of the
        bunching within slices (pooled over the last windows) beyond what Poisson arrivals show by
        chance at its 95th percentile. Either may overstate, neither understates, so the smaller
        counts: a window holding a burst's start reads a dispersion of 30 to 100, five deviations of
        which put 60 requests/s at 150, while clustered arrivals bunch within their busiest slice
        (sized at the slice alone, Mooncake conversation x5 fell to 96.1 % SLA). Undiscounted, the
        noise of Poisson bursts' bunching held 3P 5D where 2P 4D served them (45 s bursts every
        7.5 min: 1.53 -> 1.67 x the oracle)."""
        by_dispersion = rate + PEAK_Z * math.sqrt(max(dispersion, 1.0) * rate / DISPERSION_SLICE_S)
        if busiest is None:
            return by_dispersion
        bunching = max(0.0, dispersion - 1.0)
        if self._within:
            dof = sum(d for _, d in self._within)
            pooled = sum(x * d for x, d in self._within) / dof
            bunching = max(0.0, pooled - poisson_dispersion_quantile(dof, POOLED_Z))
        return min(by_dispersion, (busiest + PEAK_Z * math.sqrt(bunching * busiest)) / DISPERSION_SLICE_S)

    def _level_held(self, count: float, window_s: float) -> None:
        """A reading taken back stands again if `count` fell back past half way to the level before."""
        if self._taken_back is None:
            return
        reading, before, after = self._taken_back
        self._taken_back = None
        if (count - (before + after) / 2) * (after - before) < 0:
            self._windows[-2] = (reading, self._windows[-2][1])
            self._single = max(self._single, 1.0 + MEMORY * (excess_dispersion(reading, window_s, SINGLE_Z) - 1.0))
