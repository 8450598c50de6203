"""Check a plugin's answer against the contract before it can influence a decision."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from typing import Any, cast

from planner_sdk import (
    ApplyAck,
    Bound,
    Observations,
    PluginProtocolError,
    PluginSpec,
    Predictions,
    PredictResult,
    ProposeResult,
    Role,
    Stage,
    StageResult,
    TrafficObservation,
    Verdict,
    WorkerLoad,
)

__all__ = ["validate_result"]

_EXPECTED: dict[Stage, type] = {
    Stage.OBSERVE: Observations,
    Stage.PREDICT: PredictResult,
    Stage.PROPOSE: ProposeResult,
    Stage.CLAMP: ProposeResult,
    Stage.APPLY: ApplyAck,
}
_STAGE_OF_TYPE = {Observations: "observe", PredictResult: "predict", ProposeResult: "propose/clamp", ApplyAck: "apply"}


def validate_result(spec: PluginSpec, result: object, roles: Collection[Role], max_replicas: int) -> StageResult:
    """Return the result if it is well-formed for the plugin's stage; raise PluginProtocolError if not."""
    expected = _EXPECTED[spec.stage]
    if not isinstance(result, expected):
        answered = _STAGE_OF_TYPE.get(type(result))
        what = f"a {answered} result" if answered else f"{type(result).__name__} {result!r:.80}"
        raise PluginProtocolError(
            spec.id, f"answered with {what}; stage {spec.stage.value} expects {expected.__name__}"
        )
    if isinstance(result, Observations):
        return _clean_observations(spec.id, result)
    if isinstance(result, PredictResult):
        _check_predictions(spec.id, result.predictions)
        return result
    if isinstance(result, ProposeResult):
        _check_proposal(spec.id, result, roles, max_replicas)
        return result
    assert isinstance(result, ApplyAck)
    return result


def _number(plugin_id: str, name: str, value: object) -> float | None:
    """NaN and infinity mean "not observed"; negatives and non-numbers are nonsense."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PluginProtocolError(plugin_id, f"{name}={value!r} is not a number")
    if not math.isfinite(value):
        return None
    if value < 0:
        raise PluginProtocolError(plugin_id, f"{name}={value!r} is negative")
    return float(value)


def _clean_observations(plugin_id: str, obs: Observations) -> Observations:
    traffic = obs.traffic
    if traffic is not None:
        if not isinstance(traffic, TrafficObservation):
            raise PluginProtocolError(plugin_id, f"traffic is a {type(traffic).__name__}, not a TrafficObservation")
        window = _number(plugin_id, "traffic.window_seconds", traffic.window_seconds)
        if not window:
            raise PluginProtocolError(plugin_id, f"traffic.window_seconds={traffic.window_seconds!r} must be > 0")
        cleaned = {
            f.name: _number(plugin_id, f"traffic.{f.name}", getattr(traffic, f.name))
            for f in dataclasses.fields(traffic)
        }
        traffic = TrafficObservation(**cleaned)  # type: ignore[arg-type]
    workers = obs.workers
    if workers is not None:
        cleaned_workers = []
        for worker in workers:
            if not isinstance(worker, WorkerLoad) or not isinstance(worker.role, Role):
                raise PluginProtocolError(plugin_id, f"workers holds {worker!r:.80}, not a WorkerLoad with a Role")
            numbers = {
                f.name: _number(plugin_id, f"workers[{worker.worker_id}].{f.name}", getattr(worker, f.name))
                for f in dataclasses.fields(worker)
                if f.name not in ("worker_id", "role", "missing")
            }
            cleaned_workers.append(dataclasses.replace(worker, **cast(dict[str, Any], numbers)))
        workers = tuple(cleaned_workers)
    return Observations(traffic=traffic, workers=workers)


MAX_STEPS_AHEAD = 1000


def _check_predictions(plugin_id: str, predictions: Predictions) -> None:
    if not isinstance(predictions, Predictions):
        raise PluginProtocolError(plugin_id, f"predictions is a {type(predictions).__name__}, not Predictions")
    ahead = predictions.num_requests_ahead
    if ahead is not None:
        if not isinstance(ahead, tuple) or len(ahead) > MAX_STEPS_AHEAD:
            raise PluginProtocolError(
                plugin_id, f"num_requests_ahead must be a tuple of at most {MAX_STEPS_AHEAD} counts"
            )
        for value in ahead:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise PluginProtocolError(plugin_id, f"predicted num_requests_ahead holds {value!r}, not a count >= 0")
    for f in dataclasses.fields(predictions):
        value = getattr(predictions, f.name)
        if f.name == "num_requests_ahead":
            continue
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise PluginProtocolError(plugin_id, f"predicted {f.name}={value!r} is not a finite number")
        if value is not None and value < 0:
            raise PluginProtocolError(plugin_id, f"predicted {f.name}={value!r} is negative")


def _check_proposal(plugin_id: str, result: ProposeResult, roles: Collection[Role], max_replicas: int) -> None:
    if not isinstance(result.verdict, Verdict):
        raise PluginProtocolError(plugin_id, f"verdict {result.verdict!r} is not a Verdict")
    if result.verdict is Verdict.REJECT:
        return
    for name in ("estimated_ttft_ms", "estimated_itl_ms"):
        _number(plugin_id, name, getattr(result, name))  # NaN reads as no estimate
    for target in result.targets:
        if target.role not in roles:
            known = ", ".join(r.value for r in roles)
            raise PluginProtocolError(
                plugin_id, f"target for role {target.role!r}, which this deployment lacks ({known})"
            )
        if not isinstance(target.bound, Bound):
            raise PluginProtocolError(plugin_id, f"target bound {target.bound!r} is not a Bound")
        n = target.replicas
        if isinstance(n, bool) or not isinstance(n, int):
            raise PluginProtocolError(plugin_id, f"{target.role.value} replicas={n!r} is not a whole number")
        if n < 0:
            raise PluginProtocolError(plugin_id, f"{target.role.value} replicas={n} is negative")
        if n > max_replicas:
            raise PluginProtocolError(
                plugin_id, f"{target.role.value} replicas={n} exceeds safety.max_replicas_per_role={max_replicas}"
            )
