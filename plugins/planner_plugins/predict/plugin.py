"""builtin_load_predict: forecasts next-interval request count, mean ISL and mean OSL."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from planner_sdk import (
    ContextField,
    PluginSpec,
    Predictions,
    PredictPlugin,
    PredictResult,
    Stage,
    TickContext,
)

from ..traces import Trace, iter_windows, load_trace
from .predictors import (
    ConstantPredictor,
    DriftPredictor,
    EnsemblePredictor,
    ExponentialSmoothingPredictor,
    KalmanPredictor,
    MovingAveragePredictor,
    Predictor,
    SeasonalMeanPredictor,
)
from .statistical import ArimaPredictor, ProphetPredictor

__all__ = ["PREDICTORS", "LoadPredict", "make_predictor", "bucket_trace"]

PREDICTORS = ("constant", "moving_average", "kalman", "arima", "prophet", "ensemble")
SERIES = ("num_requests", "isl", "osl")
MIN_WINDOW_SHARE = 0.25
"""Observation windows shorter than this share of the interval are not fed to the predictors."""


def make_predictor(name: str, settings: Mapping[str, Any], interval_s: float) -> Predictor:
    """The predictor `load_predictor` names, configured from the settings."""
    log1p = bool(settings.get("load_predictor_log1p", False))

    def kalman() -> KalmanPredictor:
        return KalmanPredictor(
            settings.get("kalman_q_level", 1.0),
            settings.get("kalman_q_trend", 0.1),
            settings.get("kalman_r", 10.0),
            settings.get("kalman_min_points", 5),
            log1p,
        )

    if name == "constant":
        return ConstantPredictor()
    if name == "moving_average":
        return MovingAveragePredictor(5)
    if name == "kalman":
        return kalman()
    if name == "arima":
        return ArimaPredictor(log1p=log1p)
    if name == "prophet":
        return ProphetPredictor(settings.get("prophet_window_size", 50), interval_s, log1p)
    if name == "ensemble":
        # (member, values it waits for before it has a say); see EnsemblePredictor.
        kalman_member = kalman()
        members: list[tuple[Predictor, int]] = [
            (ConstantPredictor(), 0),
            (MovingAveragePredictor(3), 3),
            (MovingAveragePredictor(5), 5),
            (MovingAveragePredictor(10), 10),
            (ExponentialSmoothingPredictor(0.3), 5),
            (kalman_member, kalman_member.min_points),
            (DriftPredictor(2), 4),
            (SeasonalMeanPredictor(), 0),  # sits out until the series shows a period
        ]
        return EnsemblePredictor([m for m, _ in members], joins_after=[after for _, after in members])
    raise ValueError(f"load_predictor {name!r}: expected one of {', '.join(PREDICTORS)}")


def bucket_trace(trace: Trace, interval_s: float) -> list[tuple[int, float | None, float | None]]:
    """(requests, mean ISL, mean OSL) per interval from the first request; empty intervals have no means."""
    buckets = []
    for _, requests in iter_windows(trace, interval_s):
        n = len(requests)
        isl = sum(r.isl for r in requests) / n if n else None
        osl = sum(r.osl for r in requests) / n if n else None
        buckets.append((n, isl, osl))
    return buckets


class LoadPredict(PredictPlugin):
    """Feeds the traffic of each interval to one predictor per series and forecasts the next.

    Counts are normalised to the plugin's interval whatever the observation window. An idle
    interval feeds a zero count (so the fleet can shrink to its minimum) and carries ISL/OSL
    from the last traffic seen; unset or non-finite values are skipped, never fed.
    """

    def __init__(
        self,
        predictor: str,
        settings: Mapping[str, Any],
        interval_s: float,
        warmup_trace: str | None = None,
        lenient: bool = False,
    ) -> None:
        self.spec = PluginSpec(
            id="builtin_load_predict",
            stage=Stage.PREDICT,
            execution_interval_seconds=interval_s,
            needs=frozenset({ContextField.TRAFFIC}),
            requires=frozenset({ContextField.TRAFFIC}),
        )
        self.interval_s = interval_s
        self.predictors = {series: make_predictor(predictor, settings, interval_s) for series in SERIES}
        self.defaults = {"isl": settings.get("isl"), "osl": settings.get("osl")}
        # Enough intervals to reach past when an engine asked for now would serve, and the next one.
        startup = float(settings.get("effective", {}).get("engine_startup_seconds", 120.0))
        self.steps_ahead = math.ceil((startup + interval_s) / interval_s) + 2
        self.warmed_intervals = 0
        if warmup_trace:
            self.warm_start(load_trace(warmup_trace, lenient=lenient))

    def warm_start(self, trace: Trace) -> None:
        for count, isl, osl in bucket_trace(trace, self.interval_s):
            self.feed(float(count), isl, osl)
            self.warmed_intervals += 1

    def feed(self, count: float | None, isl: float | None, osl: float | None) -> None:
        if count is not None and math.isfinite(count):
            self.predictors["num_requests"].observe(max(0.0, count))
        if count:  # an idle interval says nothing about lengths
            for series, value in (("isl", isl), ("osl", osl)):
                if value is not None and math.isfinite(value):
                    self.predictors[series].observe(value)

    def predict(self, ctx: TickContext) -> PredictResult:
        traffic = ctx.observations.traffic
        assert traffic is not None  # required by the declaration
        if traffic.window_seconds >= MIN_WINDOW_SHARE * self.interval_s:
            count = traffic.num_requests
            if count is not None:
                count = count * self.interval_s / traffic.window_seconds
            self.feed(count, traffic.mean_isl, traffic.mean_osl)
        # else: a few seconds after start-up, scaled to a whole interval, would be mostly noise
        forecasts = {series: predictor.forecast() for series, predictor in self.predictors.items()}
        notes = [f"{s}: {p.note}" for s, p in self.predictors.items() if p.note]
        num = forecasts["num_requests"]
        ahead = self.predictors["num_requests"].forecast_ahead(self.steps_ahead) if num is not None else None
        return PredictResult(
            Predictions(
                num_requests=None if num is None else max(0.0, num),
                isl=forecasts["isl"] if forecasts["isl"] is not None else self.defaults["isl"],
                osl=forecasts["osl"] if forecasts["osl"] is not None else self.defaults["osl"],
                num_requests_ahead=None if ahead is None else tuple(max(0.0, n) for n in ahead),
            ),
            note="; ".join(notes),
        )
