"""One-step-ahead forecasters behind one small interface: observe a value, forecast the next."""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

__all__ = [
    "Predictor",
    "ConstantPredictor",
    "MovingAveragePredictor",
    "KalmanPredictor",
    "EnsemblePredictor",
]


class Predictor(Protocol):
    """Feed it the series one value at a time; ask for the next value (None before any data)."""

    name: str
    note: str | None  # why the last forecast fell back, if it did

    def observe(self, value: float) -> None: ...

    def forecast(self) -> float | None: ...


class ConstantPredictor:
    """next = last."""

    def __init__(self) -> None:
        self.name = "constant"
        self.note: str | None = None
        self._last: float | None = None

    def observe(self, value: float) -> None:
        self._last = value

    def forecast(self) -> float | None:
        return self._last


class MovingAveragePredictor:
    """next = mean of the last `window` values."""

    def __init__(self, window: int = 5) -> None:
        if window < 1:
            raise ValueError(f"moving average window={window} must be >= 1")
        self.name = f"moving_average_{window}"
        self.note: str | None = None
        self._values: deque[float] = deque(maxlen=window)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        if len(self._values) == self._values.maxlen:
            self._sum -= self._values[0]
        self._values.append(value)
        self._sum += value

    def forecast(self) -> float | None:
        return self._sum / len(self._values) if self._values else None


class KalmanPredictor:
    """Local linear trend Kalman filter: level and trend, both random walks.

    State [level, trend] evolves as level += trend; the observation is the level plus noise.
    `q_level` / `q_trend` are the process noises, `r` the measurement noise, all in the units
    of the (optionally log1p'd) series. Until `min_points` values have been seen it forecasts
    the last value.
    """

    def __init__(
        self, q_level: float = 1.0, q_trend: float = 0.1, r: float = 10.0, min_points: int = 5, log1p: bool = False
    ) -> None:
        self.name = "kalman"
        self.note: str | None = None
        self.q_level, self.q_trend, self.r = q_level, q_trend, r
        self.min_points, self.log1p = min_points, log1p
        self._n = 0
        self._last: float | None = None
        self._x = [0.0, 0.0]
        self._p = [[1e6, 0.0], [0.0, 1e6]]  # diffuse prior: the first values set the state

    def observe(self, value: float) -> None:
        y = math.log1p(max(value, 0.0)) if self.log1p else value
        self._last = value
        if self._n == 0:
            self._x = [y, 0.0]
            self._n = 1
            return
        (p00, p01), (p10, p11) = self._p
        # Predict: x = F x, P = F P F' + Q with F = [[1, 1], [0, 1]].
        level, trend = self._x[0] + self._x[1], self._x[1]
        a00 = p00 + p01 + p10 + p11 + self.q_level
        a01 = p01 + p11
        a10 = p10 + p11
        a11 = p11 + self.q_trend
        # Update with H = [1, 0].
        s = a00 + self.r
        k0, k1 = a00 / s, a10 / s
        innovation = y - level
        self._x = [level + k0 * innovation, trend + k1 * innovation]
        self._p = [[(1 - k0) * a00, (1 - k0) * a01], [a10 - k1 * a00, a11 - k1 * a01]]
        self._n += 1

    def forecast(self) -> float | None:
        if self._last is None:
            return None
        if self._n < self.min_points:
            return self._last
        y = self._x[0] + self._x[1]
        return max(0.0, math.expm1(y)) if self.log1p else y


class EnsemblePredictor:
    """Exponentially weighted average of member forecasts (the Hedge algorithm).

    Each member's weight is exp(-eta * its discounted absolute error / the series' discounted
    mean level), so the ensemble follows whichever members have been right lately, blends them
    when they are equally good, and needs no tuning for the series' scale. Members that have no
    forecast yet sit out.
    """

    def __init__(self, members: list[Predictor], eta: float = 64.0, discount: float = 0.98) -> None:
        if not members:
            raise ValueError("an ensemble needs members")
        self.name = "ensemble"
        self.note: str | None = None
        self.members = members
        self.eta, self.discount = eta, discount
        self._loss = [0.0] * len(members)
        self._scale = 0.0
        self._pending: list[float | None] = [None] * len(members)

    def weights(self) -> list[float]:
        scale = self._scale or 1.0
        best = min(self._loss)
        return [math.exp(-self.eta * (loss - best) / scale) for loss in self._loss]

    def observe(self, value: float) -> None:
        for i, guess in enumerate(self._pending):
            if guess is not None:
                self._loss[i] = self.discount * self._loss[i] + abs(guess - value)
        self._scale = self.discount * self._scale + abs(value)
        for member in self.members:
            member.observe(value)
        self._pending = [m.forecast() for m in self.members]

    def forecast(self) -> float | None:
        pairs = [(w, f) for w, f in zip(self.weights(), self._pending, strict=True) if f is not None]
        if not pairs:
            return None
        total = sum(w for w, _ in pairs)
        return sum(w * f for w, f in pairs) / total
