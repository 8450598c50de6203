"""builtin_engine_model: learns how fast the engines serve from their own metrics, for the
throughput proposer of a deployment with no profile and no AIConfigurator model."""

from __future__ import annotations

import logging

from planner_sdk import ContextField, PluginSpec, Predictions, PredictPlugin, PredictResult, Stage, TickContext

from ..perf.learnt import EngineModelLearner

__all__ = ["EngineModelLearn"]

log = logging.getLogger(__name__)


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
        self._said: bool | None = None  # whether the last line logged said ready

    def predict(self, ctx: TickContext) -> PredictResult:
        self.learner.observe(ctx.observations.workers or ())
        ready = self.learner.model() is not None  # refit now: the status says where the fit stands
        if ready != self._said:  # say it when it changes, not every tick
            self._said = ready
            if ready:
                log.info("engine model learnt from the engines' metrics: %s", self.learner.status)
            else:
                log.info("learning the engines' speed from their metrics; throughput decisions wait (%s)",
                         self.learner.status)  # fmt: skip
        return PredictResult(Predictions(), note=f"engine model: {self.learner.status}")
