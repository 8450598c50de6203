"""builtin_engine_model: learns how fast the engines serve from their own metrics, for the
throughput proposer of a deployment with no profile and no AIConfigurator model."""

from __future__ import annotations

from planner_sdk import ContextField, PluginSpec, Predictions, PredictPlugin, PredictResult, Stage, TickContext

from ..perf.learnt import EngineModelLearner

__all__ = ["EngineModelLearn"]


class EngineModelLearn(PredictPlugin):
    """Feeds each tick's engine metrics to the learner the throughput proposer sizes with. It runs at
    the load loop's cadence (Dynamo feeds forward-pass metrics to its model at that interval), so the
    fit sees many more operating points than one per throughput decision; it forecasts no load."""

    def __init__(self, learner: EngineModelLearner, interval_s: float) -> None:
        self.spec = PluginSpec(
            id="builtin_engine_model",
            stage=Stage.PREDICT,
            execution_interval_seconds=interval_s,
            needs=frozenset({ContextField.WORKERS}),
            requires=frozenset({ContextField.WORKERS}),
        )
        self.learner = learner

    def predict(self, ctx: TickContext) -> PredictResult:
        self.learner.observe(ctx.observations.workers or ())
        self.learner.model()  # refit now: the status line below says where the fit stands
        return PredictResult(Predictions(), note=f"engine model: {self.learner.status}")
