"""Each predictor on series with known answers; NaN and zero handling; the ARIMA fallback."""

from __future__ import annotations

import math

import pytest

from planner_plugins.predict import (
    ArimaPredictor,
    ConstantPredictor,
    DriftPredictor,
    EnsemblePredictor,
    ExponentialSmoothingPredictor,
    KalmanPredictor,
    MovingAveragePredictor,
    PredictorUnavailableError,
    ProphetPredictor,
    make_predictor,
)


def feed(predictor: object, values: list[float]) -> float | None:
    for v in values:
        predictor.observe(v)  # type: ignore[attr-defined]
    return predictor.forecast()  # type: ignore[attr-defined,no-any-return]


def test_constant_repeats_the_last_value() -> None:
    assert feed(ConstantPredictor(), [1, 5, 3]) == 3
    assert ConstantPredictor().forecast() is None


def test_moving_average_averages_its_window() -> None:
    assert feed(MovingAveragePredictor(3), [100, 1, 2, 3]) == 2


def test_exponential_smoothing_moves_alpha_of_the_way_to_each_value() -> None:
    assert feed(ExponentialSmoothingPredictor(0.5), [0, 8, 8]) == 6


def test_drift_extrapolates_a_ramp() -> None:
    assert feed(DriftPredictor(2, damping=1.0), [10, 20, 30, 40]) == 50


def test_a_trend_carries_on_less_surely_each_step_ahead() -> None:
    drift = DriftPredictor(2)
    feed(drift, [10, 20, 30, 40])
    assert drift.forecast_ahead(3) == pytest.approx([40 + 9, 40 + 9 + 8.1, 40 + 9 + 8.1 + 7.29])


def test_the_kalman_trend_is_damped_as_the_drift_is() -> None:
    kalman = KalmanPredictor(q_level=0.01, q_trend=0.01, r=0.01, min_points=3)
    feed(kalman, [10.0 * i for i in range(30)])
    steps = kalman.forecast_ahead(3)
    assert steps is not None
    assert steps[2] - steps[1] == pytest.approx(0.9 * (steps[1] - steps[0]), rel=1e-6)


def test_drift_never_forecasts_below_zero() -> None:
    assert feed(DriftPredictor(2), [100, 50, 0]) == 0


def test_kalman_follows_a_linear_trend() -> None:
    kalman = KalmanPredictor(q_level=0.01, q_trend=0.01, r=0.01, min_points=3)
    assert feed(kalman, [10.0 * i for i in range(30)]) == pytest.approx(300, rel=0.01)


def test_kalman_holds_a_constant() -> None:
    assert feed(KalmanPredictor(), [42.0] * 20) == pytest.approx(42, rel=1e-3)


def test_kalman_honours_min_points() -> None:
    kalman = KalmanPredictor(min_points=5)
    assert feed(kalman, [1, 2, 3, 10]) == 10  # below min_points: the last value
    assert feed(kalman, [11]) != 11


def test_kalman_in_log1p_space_never_forecasts_negative() -> None:
    assert feed(KalmanPredictor(log1p=True, min_points=2), [100, 50, 10, 1, 0, 0]) >= 0  # type: ignore[operator]


def test_kalman_recovers_from_a_step() -> None:
    kalman = KalmanPredictor(q_level=1.0, q_trend=0.1, r=1.0, min_points=2)
    assert feed(kalman, [10.0] * 20 + [50.0] * 20) == pytest.approx(50, rel=0.05)


def test_ensemble_leans_to_the_member_that_has_been_right() -> None:
    # A sine wave of period 4 (100, 150, 100, 50, ...): "next = last" misses by 50 every step,
    # the 4-point mean (always 100) by 25 on average.
    wave = [100 + 50 * math.sin(math.pi / 2 * i) for i in range(60)]
    ensemble = EnsemblePredictor([ConstantPredictor(), MovingAveragePredictor(4)])
    feed(ensemble, wave)
    weights = ensemble.weights()
    assert weights[1] > 5 * weights[0]


def test_ensemble_member_has_no_say_until_it_joins() -> None:
    ensemble = EnsemblePredictor([ConstantPredictor(), MovingAveragePredictor(3)], joins_after=[0, 3])
    assert feed(ensemble, [10, 20]) == 20  # the 2-value mean would lag the ramp: only "last" speaks
    assert ensemble.weights()[1] == 0
    feed(ensemble, [30])
    assert ensemble.weights()[1] > 0


def test_ensemble_member_joins_with_the_errors_it_made_while_waiting() -> None:
    # The lagging mean missed by 10 and 15 while it waited; "last" missed by 10 twice.
    ensemble = EnsemblePredictor([ConstantPredictor(), MovingAveragePredictor(3)], joins_after=[0, 3])
    feed(ensemble, [10, 20, 30])
    constant, mean = ensemble.weights()
    assert mean < constant


def test_ensemble_follows_a_ramp_better_than_any_smoother() -> None:
    ramp = [100.0 + 10 * i for i in range(20)]
    assert feed(make_predictor("ensemble", {}, 60), ramp) == pytest.approx(300, rel=0.02)


def test_ensemble_on_a_constant_series_forecasts_the_constant() -> None:
    assert feed(make_predictor("ensemble", {}, 60), [7.0] * 15) == pytest.approx(7.0)


def test_arima_tracks_a_trend() -> None:
    arima = ArimaPredictor()
    values = [100.0 + 5 * i + (3 if i % 2 else -3) for i in range(40)]
    assert feed(arima, values) == pytest.approx(300, rel=0.05)


def test_arima_falls_back_to_the_last_value_and_says_so_when_the_fit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import pmdarima

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("Input contains NaN")

    monkeypatch.setattr(pmdarima, "auto_arima", broken)
    arima = ArimaPredictor()
    assert feed(arima, [1, 2, 3, 4, 5, 6]) == 6
    assert arima.note is not None
    assert "Input contains NaN" in arima.note


def test_arima_switches_to_log1p_when_the_raw_fit_collapses() -> None:
    arima = ArimaPredictor()
    feed(arima, [50.0, 51.0, 49.0, 50.0, 52.0, 48.0, 50.0, 51.0] * 3)
    assert arima.log1p or arima.order not in (None, (0, 0, 0), (0, 1, 0))


def test_prophet_without_the_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "prophet" else real(name, *a))
    with pytest.raises(PredictorUnavailableError, match=r"pip install 'planner\[prophet\]'"):
        ProphetPredictor()


def test_an_unknown_predictor_name_is_refused() -> None:
    with pytest.raises(ValueError, match="load_predictor 'oracle'"):
        make_predictor("oracle", {}, 60)
