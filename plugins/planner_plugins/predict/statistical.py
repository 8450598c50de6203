"""Heavier forecasters: ARIMA (pmdarima) and Prophet (optional extra)."""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections import deque
from typing import Any

from planner_sdk import PlannerError

__all__ = ["ArimaPredictor", "ProphetPredictor", "PredictorUnavailableError"]


class PredictorUnavailableError(PlannerError):
    """The selected predictor needs a package that is not installed."""


class ArimaPredictor:
    """auto_arima fitted once, then updated one value at a time over a bounded history.

    Fits in raw space first; when the fit collapses to (0, d, 0) (a random walk or a constant,
    which forecasts nothing) or `log1p` is set, it fits log1p(y) instead. It refits every
    `refit_every` values, or after an update fails. pmdarima can raise "Input contains NaN" on
    near-unit-root fits: the forecast then falls back to the last value and `note` says so.
    """

    def __init__(self, log1p: bool = False, max_history: int = 256, min_points: int = 5, refit_every: int = 48) -> None:
        import pmdarima  # noqa: F401  (fail at construction, not at the first forecast)

        self.name = "arima"
        self.note: str | None = None
        self.log1p = log1p
        self.min_points, self.refit_every = min_points, refit_every
        self._history: deque[float] = deque(maxlen=max_history)
        self._model: Any = None
        self._since_fit = 0
        self.order: tuple[int, int, int] | None = None

    def _y(self, value: float) -> float:
        return math.log1p(max(value, 0.0)) if self.log1p else value

    def _fit(self) -> None:
        import pmdarima

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pmdarima.auto_arima(
                [self._y(v) for v in self._history],
                seasonal=False, stepwise=True, suppress_warnings=True, error_action="ignore",
            )  # fmt: skip
            order = tuple(model.order)
            if not self.log1p and order[0] == 0 and order[2] == 0:
                self.log1p = True
                model = pmdarima.auto_arima(
                    [self._y(v) for v in self._history],
                    seasonal=False, stepwise=True, suppress_warnings=True, error_action="ignore",
                )  # fmt: skip
        self._model, self.order, self._since_fit = model, tuple(model.order), 0

    def observe(self, value: float) -> None:
        self._history.append(value)
        if self._model is None:
            return
        self._since_fit += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._model.update([self._y(value)])
        except (ValueError, ArithmeticError, IndexError):
            self._model = None  # refit on the next forecast

    def forecast(self) -> float | None:
        ahead = self.forecast_ahead(1)
        return ahead[0] if ahead else None

    def forecast_ahead(self, steps: int) -> list[float] | None:
        self.note = None
        if not self._history:
            return None
        last = self._history[-1]
        if len(self._history) < self.min_points:
            return [last] * steps
        try:
            if self._model is None or self._since_fit >= self.refit_every:
                self._fit()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ys = [float(y) for y in self._model.predict(n_periods=steps)]
        except (ValueError, ArithmeticError, IndexError, Exception) as exc:  # pmdarima raises broadly
            self._model = None
            self.note = f"arima failed ({type(exc).__name__}: {exc}); used the last value"
            return [last] * steps
        if not all(math.isfinite(y) for y in ys):
            self._model = None
            self.note = "arima forecast was not finite; used the last value"
            return [last] * steps
        return [max(0.0, math.expm1(y)) if self.log1p else y for y in ys]


class ProphetPredictor:
    """Prophet refitted on the last `window` values at each forecast (`pip install planner[prophet]`)."""

    def __init__(self, window: int = 50, interval_s: float = 60.0, log1p: bool = False) -> None:
        if importlib.util.find_spec("prophet") is None:
            raise PredictorUnavailableError(
                "load_predictor 'prophet' needs the prophet package: pip install 'planner[prophet]'"
            )
        self.name = "prophet"
        self.note: str | None = None
        self.interval_s, self.log1p = interval_s, log1p
        self._history: deque[float] = deque(maxlen=window)
        self._count = 0

    def observe(self, value: float) -> None:
        self._history.append(value)
        self._count += 1

    def forecast_ahead(self, steps: int) -> list[float] | None:
        value = self.forecast()  # one fit per tick is costly enough: the next value stands for the rest
        return None if value is None else [value] * steps

    def forecast(self) -> float | None:
        self.note = None
        if not self._history:
            return None
        last = self._history[-1]
        if len(self._history) < 3:
            return last
        import logging

        import pandas as pd
        from prophet import Prophet

        logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
        start = self._count - len(self._history)
        stamps = pd.to_datetime([(start + i) * self.interval_s for i in range(len(self._history) + 1)], unit="s")
        values = [math.log1p(max(v, 0.0)) if self.log1p else v for v in self._history]
        try:
            model = Prophet()
            model.fit(pd.DataFrame({"ds": stamps[:-1], "y": values}))
            y = float(model.predict(pd.DataFrame({"ds": stamps[-1:]}))["yhat"].iloc[0])
        except Exception as exc:  # Prophet's fit raises many kinds of errors
            self.note = f"prophet failed ({type(exc).__name__}); used the last value"
            return last
        return max(0.0, math.expm1(y)) if self.log1p else y
