"""A planner that starts with no engine model, replayed: how soon what it learns from the simulated
engines' metrics matches their true speed, and what it costs against the planner that had the profile."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from planner_plugins.perf import PerfModel
from planner_plugins.perf.crosscheck import cross_check_at
from planner_plugins.perf.learnt import EngineModelLearner
from planner_plugins.predict import EngineModelLearn
from planner_plugins.traces import Trace
from planner_sdk import ProposeResult

from ..config import PlannerConfig
from ..daemon import Planner
from ..errors import PlannerError
from ..pipeline.record import TickRecord
from .replay import ReplayResult, ReplicaPoint, replay_config
from .world import SimulatedDeployment

__all__ = ["CONVERGED", "LearningPoint", "LearningResult", "learning_replay", "model_error"]

CONVERGED = 0.05  # within this of the true engine's TTFT and ITL, where the traffic runs it


@dataclass(frozen=True)
class LearningPoint:
    t: float
    ready: bool
    ttft_error: float | None  # median |relative error| at the traffic's prompt lengths
    itl_error: float | None  # median |relative error| at its context, over the KV loads seen


@dataclass
class LearningResult:
    points: list[LearningPoint]
    withheld: int  # throughput decisions withheld as model_not_ready
    replay: ReplayResult  # cost, attainment and the fleet over time

    @property
    def converged_at(self) -> float | None:
        """The first time from which both errors stay within CONVERGED to the end."""
        at = None
        for point in self.points:
            good = point.ready and all(e is not None and e <= CONVERGED for e in (point.ttft_error, point.itl_error))
            at = (at if at is not None else point.t) if good else None
        return at


def gpu_hours_between(timeline: list[ReplicaPoint], start: float, end: float, gpus: tuple[int, int]) -> float:
    """GPU-hours of the expected fleet (a step function of the timeline) over [start, end)."""
    total = 0.0
    for point, following in zip(timeline, [*timeline[1:], None], strict=True):
        lo, hi = max(point.t, start), min(following.t if following else end, end)
        if hi > lo:
            total += (point.prefill * gpus[0] + point.decode * gpus[1]) * (hi - lo)
    return total / 3600.0


def model_error(truth: PerfModel, learner: EngineModelLearner, isl: float, osl: float) -> tuple[float, float] | None:
    """(TTFT, ITL) median relative errors of the learner's model where this traffic runs the engines:
    prompts of half to twice `isl`, decode at context isl + osl/2 across the KV loads its samples span."""
    model = learner.model()
    kv = [sample[1] / truth.decode.max_kv_tokens for sample in learner.decode]
    if model is None or not kv:
        return None
    low, high = min(kv), max(kv)
    usages = [low + (high - low) * i / 4 for i in range(5)]
    check = cross_check_at(truth, model, [isl / 2, isl, 2 * isl], isl + osl / 2, usages)
    return check.median_abs_error("ttft"), check.median_abs_error("itl")


def learning_replay(config: PlannerConfig, trace: Trace, *, every_s: float = 60.0) -> LearningResult:
    """Replay `trace` with `config` (its engine model learnt) and check the learnt model every `every_s`."""
    if not config.learns_engine_model:
        raise PlannerError("learning_replay: the config does not learn its engine model (engine_model: learnt)")
    points: list[LearningPoint] = []
    withheld = 0
    learners: list[EngineModelLearner] = []
    isl = statistics.fmean(r.isl for r in trace.requests) if trace.requests else 1.0
    osl = statistics.fmean(r.osl for r in trace.requests) if trace.requests else 1.0

    def watch(planner: Planner, world: SimulatedDeployment, record: TickRecord) -> None:
        nonlocal withheld
        if not learners:
            learners.extend(plugin.learner for plugin in planner.registry.in_process(EngineModelLearn))
        withheld += any(
            isinstance(c.result, ProposeResult) and c.result.reason.startswith("model_not_ready") for c in record.calls
        )
        now = planner.clock.monotonic()
        if now >= every_s * (len(points) + 1):
            errors = model_error(world.cluster.perf, learners[0], isl, osl)
            points.append(LearningPoint(now, errors is not None, *(errors or (None, None))))

    replay = replay_config(config, trace, name="learnt", watch=watch)
    return LearningResult(points, withheld, replay)
