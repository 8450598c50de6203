"""A predict plugin served over gRPC: Holt's linear exponential smoothing of the request rate.

python examples/holt_forecaster/holt_forecaster.py --planner unix:///run/planner.sock --token-file /secrets/token
"""

from __future__ import annotations

import argparse
from pathlib import Path

from planner_sdk import (
    ContextField,
    PluginSpec,
    Predictions,
    PredictPlugin,
    PredictResult,
    Stage,
    TickContext,
    run,
)


class HoltForecaster(PredictPlugin):
    """Forecasts next-interval requests with a level and a trend (Holt, 1957).

    It runs first in the predict chain (priority 10) and sets only `num_requests`, so the builtin
    predictor still fills ISL and OSL after it.
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.2, interval_seconds: float = 60.0) -> None:
        if not (0 < alpha <= 1 and 0 <= beta <= 1):
            raise ValueError(f"alpha={alpha}, beta={beta}: need 0 < alpha <= 1 and 0 <= beta <= 1")
        self.spec = PluginSpec(
            id="holt_forecaster",
            stage=Stage.PREDICT,
            execution_interval_seconds=interval_seconds,
            priority=10,
            requires=frozenset({ContextField.TRAFFIC}),
            timeout_seconds=1.0,
        )
        self.alpha, self.beta = alpha, beta
        self.level: float | None = None
        self.trend = 0.0

    def update(self, requests: float) -> float:
        """Take this interval's count; return the forecast for the next (never negative)."""
        if self.level is None:
            self.level = requests
        else:
            previous = self.level
            self.level = self.alpha * requests + (1 - self.alpha) * (previous + self.trend)
            self.trend = self.beta * (self.level - previous) + (1 - self.beta) * self.trend
        return max(0.0, self.level + self.trend)

    async def predict(self, ctx: TickContext) -> PredictResult:
        traffic = ctx.observations.traffic
        if traffic is None or traffic.num_requests is None:
            return PredictResult(Predictions())
        per_interval = traffic.num_requests * self.spec.execution_interval_seconds / traffic.window_seconds
        return PredictResult(Predictions(num_requests=self.update(per_interval)), note="holt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planner", required=True, help="the planner's registry: host:port or unix:///path")
    parser.add_argument("--token-file", type=Path, help="file holding the bearer token")
    parser.add_argument("--interval", type=float, default=60.0)
    args = parser.parse_args()
    token = args.token_file.read_text().strip() if args.token_file else None
    run(HoltForecaster(interval_seconds=args.interval), args.planner, token=token, plugin_version="1.0.0")


if __name__ == "__main__":
    main()
