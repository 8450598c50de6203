"""The Holt forecaster example: known answers, and the contract kit in-process and over gRPC."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from planner_sdk.testing import check_plugin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "holt_forecaster"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "business_hours_floor"))
from business_hours_floor import BusinessHoursFloor
from holt_forecaster import HoltForecaster


def test_a_linear_series_is_forecast_exactly_once_the_trend_is_learnt() -> None:
    holt = HoltForecaster(alpha=1.0, beta=1.0)
    forecasts = [holt.update(10.0 * i) for i in range(1, 6)]
    assert forecasts[-1] == pytest.approx(60.0)


def test_a_constant_series_is_forecast_as_itself() -> None:
    holt = HoltForecaster()
    assert [holt.update(42.0) for _ in range(5)][-1] == pytest.approx(42.0)


def test_a_falling_series_never_forecasts_below_zero() -> None:
    holt = HoltForecaster(alpha=1.0, beta=1.0)
    assert [holt.update(v) for v in (100.0, 50.0, 0.0)][-1] == 0.0


def test_bad_smoothing_constants_are_refused() -> None:
    with pytest.raises(ValueError, match="alpha=0"):
        HoltForecaster(alpha=0)


@pytest.mark.anyio
@pytest.mark.e2e
async def test_the_forecaster_keeps_the_contract_in_process_and_over_grpc() -> None:
    report = await check_plugin(HoltForecaster(interval_seconds=0.2))
    assert report.ok, report.problems
    assert "ok" in report.statuses["grpc"]


@pytest.mark.anyio
@pytest.mark.e2e
async def test_the_business_hours_floor_keeps_the_contract_over_grpc() -> None:
    report = await check_plugin(BusinessHoursFloor(prefill=1, decode=1, interval_seconds=0.2))
    assert report.ok, report.problems


@pytest.mark.anyio
async def test_the_kit_reports_a_plugin_that_breaks_the_contract() -> None:
    class Broken(HoltForecaster):
        async def predict(self, ctx: object) -> object:  # type: ignore[override]
            return "not a prediction"

    report = await check_plugin(Broken(interval_seconds=0.2), over_grpc=False)
    assert not report.ok
    assert any("expects PredictResult" in p for p in report.problems)
