"""Bounded sample memory stratified by load, for models fitted online from the engines' metrics."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["BandedSamples", "LOAD_RANGE"]

LOAD_RANGE = 1e7
"""Loads (tokens) the bands cover; larger loads share the top band."""

T = TypeVar("T")


class BandedSamples(Generic[T]):
    """Samples kept in `buckets` fixed bands of load, `max_samples / buckets` in each, the oldest
    retired first within a band: a model fitted to only the newest, similar points would extrapolate
    wildly. Bands are log-spaced from 1 to `load_range` tokens by default (a quiet hour and a busy one
    both keep a say); `linear=True` spaces them evenly over [0, load_range], for a load with a known
    ceiling (a share of the KV cache) whose every part matters alike."""

    def __init__(
        self, max_samples: int = 64, buckets: int = 16, *, load_range: float = LOAD_RANGE, linear: bool = False
    ) -> None:
        self.buckets = max(1, buckets)
        self.load_range, self.linear = load_range, linear
        per_bucket = max(1, max_samples // self.buckets)
        self._bands: list[deque[T]] = [deque(maxlen=per_bucket) for _ in range(self.buckets)]

    def _band(self, load: float) -> int:
        # Fixed bands: a band never moves under a sample.
        load = max(load, 0.0)
        position = load / self.load_range if self.linear else math.log1p(load) / math.log1p(self.load_range)
        return min(self.buckets - 1, int(position * self.buckets))

    def add(self, load: float, sample: T) -> None:
        self._bands[self._band(load)].append(sample)

    def bands(self) -> list[list[T]]:
        """The samples band by band, lowest load first."""
        return [list(band) for band in self._bands]

    def __iter__(self) -> Iterator[T]:
        for band in self._bands:
            yield from band

    def __len__(self) -> int:
        return sum(len(band) for band in self._bands)
