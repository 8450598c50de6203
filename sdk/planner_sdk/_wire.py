"""Conversion between the SDK's value types and the planner.v1 protobuf messages."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ._context import ContextField, PlannerView, TickContext
from ._errors import PluginDeclarationError
from ._plugin import PluginSpec
from ._proto.planner.v1 import types_pb2 as pb
from ._types import (
    ApplyAck,
    Bound,
    Decision,
    HoldPolicy,
    Observations,
    OnError,
    Predictions,
    PredictResult,
    ProposeResult,
    ReplicaCount,
    ReplicaTarget,
    Role,
    Stage,
    TrafficObservation,
    Verdict,
    WorkerLoad,
)

__all__ = [
    "PROTOCOL_VERSION",
    "declaration_to_proto",
    "declaration_from_proto",
    "context_to_proto",
    "context_from_proto",
    "observations_to_proto",
    "observations_from_proto",
    "predict_result_to_proto",
    "predict_result_from_proto",
    "propose_result_to_proto",
    "propose_result_from_proto",
    "decision_to_proto",
    "decision_from_proto",
    "ack_to_proto",
    "ack_from_proto",
]

PROTOCOL_VERSION = "v1"

_STAGE = {Stage.OBSERVE: pb.STAGE_OBSERVE, Stage.PREDICT: pb.STAGE_PREDICT, Stage.PROPOSE: pb.STAGE_PROPOSE,
          Stage.CLAMP: pb.STAGE_CLAMP, Stage.APPLY: pb.STAGE_APPLY}  # fmt: skip
_ROLE = {Role.PREFILL: pb.ROLE_PREFILL, Role.DECODE: pb.ROLE_DECODE, Role.AGG: pb.ROLE_AGG}
_HOLD = {HoldPolicy.HOLD_LAST: pb.HOLD_POLICY_HOLD_LAST, HoldPolicy.NO_OPINION: pb.HOLD_POLICY_NO_OPINION}
_ON_ERROR = {OnError.SKIP: pb.ON_ERROR_SKIP, OnError.HOLD_LAST: pb.ON_ERROR_HOLD_LAST,
             OnError.REJECT_TICK: pb.ON_ERROR_REJECT_TICK}  # fmt: skip
_FIELD = {ContextField.REPLICAS: pb.CONTEXT_FIELD_REPLICAS, ContextField.TRAFFIC: pb.CONTEXT_FIELD_TRAFFIC,
          ContextField.WORKERS: pb.CONTEXT_FIELD_WORKERS, ContextField.PREDICTIONS: pb.CONTEXT_FIELD_PREDICTIONS,
          ContextField.PROPOSAL: pb.CONTEXT_FIELD_PROPOSAL}  # fmt: skip
_VERDICT = {Verdict.ACCEPT: pb.VERDICT_ACCEPT, Verdict.OVERRIDE: pb.VERDICT_OVERRIDE, Verdict.REJECT: pb.VERDICT_REJECT}
_BOUND = {Bound.SET: pb.BOUND_SET, Bound.AT_LEAST: pb.BOUND_AT_LEAST, Bound.AT_MOST: pb.BOUND_AT_MOST}


def _invert(mapping: Mapping[Any, int]) -> dict[int, Any]:
    return {v: k for k, v in mapping.items()}


_STAGE_IN, _ROLE_IN, _FIELD_IN = _invert(_STAGE), _invert(_ROLE), _invert(_FIELD)
_HOLD_IN = {**_invert(_HOLD), pb.HOLD_POLICY_UNSPECIFIED: HoldPolicy.NO_OPINION}
_ON_ERROR_IN = {**_invert(_ON_ERROR), pb.ON_ERROR_UNSPECIFIED: OnError.SKIP}
_VERDICT_IN = {**_invert(_VERDICT), pb.VERDICT_UNSPECIFIED: Verdict.ACCEPT}
_BOUND_IN = _invert(_BOUND)


def _role_in(value: int, what: str) -> Role:
    try:
        return _ROLE_IN[value]  # type: ignore[no-any-return]
    except KeyError:
        raise ValueError(f"{what}: role {value} is not a known role") from None


def _opt(message: Any, name: str) -> float | None:
    return float(getattr(message, name)) if message.HasField(name) else None


def _set_opt(message: Any, name: str, value: float | None) -> None:
    if value is not None and math.isfinite(value):
        setattr(message, name, value)


# -- declaration -------------------------------------------------------------------------------


def declaration_to_proto(spec: PluginSpec) -> pb.PluginDeclaration:
    message = pb.PluginDeclaration(
        id=spec.id, stage=_STAGE[spec.stage], priority=spec.priority,
        execution_interval_seconds=spec.execution_interval_seconds, hold=_HOLD[spec.hold],
        needs=[_FIELD[f] for f in sorted(spec.needs - spec.requires, key=lambda f: f.value)],
        requires=[_FIELD[f] for f in sorted(spec.requires, key=lambda f: f.value)], on_error=_ON_ERROR[spec.on_error],
    )  # fmt: skip
    if spec.timeout_seconds is not None:
        message.timeout_seconds = spec.timeout_seconds
    return message


def declaration_from_proto(message: pb.PluginDeclaration) -> PluginSpec:
    """The declaration as a PluginSpec; PluginDeclarationError names the field that is wrong."""
    if message.stage not in _STAGE_IN:
        raise PluginDeclarationError("invalid_declaration: stage")
    for name, values in (("needs", message.needs), ("requires", message.requires)):
        if any(v not in _FIELD_IN for v in values):
            raise PluginDeclarationError(f"invalid_declaration: {name}")
    if message.hold not in _HOLD_IN:
        raise PluginDeclarationError("invalid_declaration: hold")
    if message.on_error not in _ON_ERROR_IN:
        raise PluginDeclarationError("invalid_declaration: on_error")
    try:
        return PluginSpec(
            id=message.id, stage=_STAGE_IN[message.stage], priority=message.priority,
            execution_interval_seconds=message.execution_interval_seconds, hold=_HOLD_IN[message.hold],
            needs=frozenset(_FIELD_IN[v] for v in message.needs),
            requires=frozenset(_FIELD_IN[v] for v in message.requires),
            timeout_seconds=message.timeout_seconds if message.HasField("timeout_seconds") else None,
            on_error=_ON_ERROR_IN[message.on_error],
        )  # fmt: skip
    except PluginDeclarationError as exc:
        text = str(exc)
        field = next((name for name in _DECLARATION_FIELDS if name in text), "declaration")
        raise PluginDeclarationError(f"invalid_declaration: {field} ({text})") from None


_DECLARATION_FIELDS = ("execution_interval_seconds", "timeout_seconds", "priority", "requires", "needs", "id")


# -- context -------------------------------------------------------------------------------------


def _counts(values: Mapping[Role, int]) -> list[pb.RoleCount]:
    return [pb.RoleCount(role=_ROLE[r], replicas=n) for r, n in values.items()]


def _counts_in(values: Iterable[pb.RoleCount], what: str) -> dict[Role, int]:
    return {_role_in(c.role, what): int(c.replicas) for c in values}


def observations_to_proto(obs: Observations) -> pb.Observations:
    message = pb.Observations(has_workers=obs.workers is not None)
    if obs.traffic is not None:
        t = obs.traffic
        message.traffic.window_seconds = t.window_seconds
        for name in _TRAFFIC_NUMBERS:
            _set_opt(message.traffic, name, getattr(t, name))
    for w in obs.workers or ():
        item = message.workers.add(worker_id=w.worker_id, role=_ROLE[w.role], missing=w.missing)
        for name in _WORKER_NUMBERS:
            _set_opt(item, name, getattr(w, name))
    return message


_WORKER_NUMBERS = (
    "queued_prefill_requests", "queued_prefill_tokens", "scheduled_kv_tokens", "queued_kv_tokens", "max_kv_tokens",
    "running_requests", "forward_pass_ms", "recent_ttft_ms", "recent_itl_ms", "forward_pass_tokens",
)  # fmt: skip
_TRAFFIC_NUMBERS = (
    "num_requests",
    "mean_isl",
    "mean_osl",
    "mean_ttft_ms",
    "mean_itl_ms",
    "isl_cv",
    "osl_cv",
    "arrival_dispersion",
    "recent_window_seconds",
    "recent_num_requests",
    "busiest_slice_requests",
    "within_slice_dispersion",
)


def observations_from_proto(message: pb.Observations) -> Observations:
    traffic = None
    if message.HasField("traffic"):
        t = message.traffic
        traffic = TrafficObservation(t.window_seconds, **{n: _opt(t, n) for n in _TRAFFIC_NUMBERS})
    workers = None
    if message.has_workers:
        workers = tuple(
            WorkerLoad(
                w.worker_id, _role_in(w.role, "workers"), **{n: _opt(w, n) for n in _WORKER_NUMBERS}, missing=w.missing
            )
            for w in message.workers
        )
    return Observations(traffic=traffic, workers=workers)


def _predictions_to_proto(p: Predictions) -> pb.Predictions:
    message = pb.Predictions()
    for name in ("num_requests", "isl", "osl"):
        _set_opt(message, name, getattr(p, name))
    message.num_requests_ahead.extend(p.num_requests_ahead or ())
    return message


def _predictions_from_proto(message: pb.Predictions) -> Predictions:
    ahead = tuple(message.num_requests_ahead) or None
    return Predictions(_opt(message, "num_requests"), _opt(message, "isl"), _opt(message, "osl"), ahead)


def context_to_proto(ctx: TickContext) -> pb.TickContext:
    view = ctx.planner
    message = pb.TickContext(
        tick_id=ctx.tick_id, decision_id=ctx.decision_id, now=ctx.now,
        planner=pb.PlannerView(
            mode=view.mode, roles=[_ROLE[r] for r in view.roles], optimization_target=view.optimization_target,
            ttft_ms=view.ttft_ms, itl_ms=view.itl_ms, max_gpu_budget=view.max_gpu_budget,
            gpus_per_engine=_counts(view.gpus_per_engine), min_endpoint=_counts(view.min_endpoint),
        ),
        has_replicas=ctx.replicas is not None,
        observations=observations_to_proto(ctx.observations), predictions=_predictions_to_proto(ctx.predictions),
        has_proposal=ctx.proposal is not None, proposal=_counts(ctx.proposal or {}),
    )  # fmt: skip
    for role, count in (ctx.replicas or {}).items():
        message.replicas.add(role=_ROLE[role], ready=count.ready, expected=count.expected)
    return message


def context_from_proto(message: pb.TickContext) -> TickContext:
    v = message.planner
    view = PlannerView(
        mode=v.mode, roles=tuple(_role_in(r, "planner.roles") for r in v.roles),
        optimization_target=v.optimization_target, ttft_ms=v.ttft_ms, itl_ms=v.itl_ms,
        max_gpu_budget=int(v.max_gpu_budget), gpus_per_engine=_counts_in(v.gpus_per_engine, "gpus_per_engine"),
        min_endpoint=_counts_in(v.min_endpoint, "min_endpoint"),
    )  # fmt: skip
    replicas = None
    if message.has_replicas:
        replicas = {_role_in(c.role, "replicas"): ReplicaCount(int(c.ready), int(c.expected)) for c in message.replicas}
    return TickContext(
        tick_id=int(message.tick_id), decision_id=int(message.decision_id), now=message.now, planner=view,
        replicas=replicas, observations=observations_from_proto(message.observations),
        predictions=_predictions_from_proto(message.predictions),
        proposal=_counts_in(message.proposal, "proposal") if message.has_proposal else None,
    )  # fmt: skip


# -- results -------------------------------------------------------------------------------------


def predict_result_to_proto(result: PredictResult) -> pb.PredictResult:
    return pb.PredictResult(predictions=_predictions_to_proto(result.predictions), final=result.final, note=result.note)


def predict_result_from_proto(message: pb.PredictResult) -> PredictResult:
    return PredictResult(_predictions_from_proto(message.predictions), final=message.final, note=message.note)


def propose_result_to_proto(result: ProposeResult) -> pb.ProposeResult:
    return pb.ProposeResult(
        verdict=_VERDICT[result.verdict],
        targets=[
            pb.ReplicaTarget(role=_ROLE[t.role], bound=_BOUND[t.bound], replicas=t.replicas) for t in result.targets
        ],
        final=result.final,
        reason=result.reason,
        estimated_ttft_ms=result.estimated_ttft_ms,
        estimated_itl_ms=result.estimated_itl_ms,
    )


def propose_result_from_proto(message: pb.ProposeResult) -> ProposeResult:
    """The result; ValueError for an unknown verdict, role or bound (a protocol error)."""
    if message.verdict not in _VERDICT_IN:
        raise ValueError(f"verdict {message.verdict} is not a known verdict")
    targets = []
    for t in message.targets:
        if t.bound not in _BOUND_IN:
            raise ValueError(f"target bound {t.bound} is not SET, AT_LEAST or AT_MOST")
        targets.append(ReplicaTarget(_role_in(t.role, "targets"), _BOUND_IN[t.bound], int(t.replicas)))
    return ProposeResult(
        _VERDICT_IN[message.verdict], tuple(targets), final=message.final, reason=message.reason,
        estimated_ttft_ms=message.estimated_ttft_ms if message.HasField("estimated_ttft_ms") else None,
        estimated_itl_ms=message.estimated_itl_ms if message.HasField("estimated_itl_ms") else None,
    )  # fmt: skip


def decision_to_proto(decision: Decision) -> pb.Decision:
    return pb.Decision(
        decision_id=decision.decision_id, targets=_counts(decision.targets), advisory=decision.advisory,
        reasons=list(decision.reasons),
    )  # fmt: skip


def decision_from_proto(message: pb.Decision) -> Decision:
    return Decision(
        int(message.decision_id), _counts_in(message.targets, "decision"), message.advisory, tuple(message.reasons)
    )


def ack_to_proto(ack: ApplyAck) -> pb.ApplyAck:
    return pb.ApplyAck(decision_id=ack.decision_id, accepted=ack.accepted, message=ack.message)


def ack_from_proto(message: pb.ApplyAck) -> ApplyAck:
    return ApplyAck(int(message.decision_id), message.accepted, message.message)
