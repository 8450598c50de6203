# Generated from protos/planner/v1 by protos/generate.py. Do not edit.
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_OBSERVE: _ClassVar[Stage]
    STAGE_PREDICT: _ClassVar[Stage]
    STAGE_PROPOSE: _ClassVar[Stage]
    STAGE_CLAMP: _ClassVar[Stage]
    STAGE_APPLY: _ClassVar[Stage]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_PREFILL: _ClassVar[Role]
    ROLE_DECODE: _ClassVar[Role]
    ROLE_AGG: _ClassVar[Role]

class HoldPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOLD_POLICY_UNSPECIFIED: _ClassVar[HoldPolicy]
    HOLD_POLICY_HOLD_LAST: _ClassVar[HoldPolicy]
    HOLD_POLICY_NO_OPINION: _ClassVar[HoldPolicy]

class OnError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ON_ERROR_UNSPECIFIED: _ClassVar[OnError]
    ON_ERROR_SKIP: _ClassVar[OnError]
    ON_ERROR_HOLD_LAST: _ClassVar[OnError]
    ON_ERROR_REJECT_TICK: _ClassVar[OnError]

class ContextField(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTEXT_FIELD_UNSPECIFIED: _ClassVar[ContextField]
    CONTEXT_FIELD_REPLICAS: _ClassVar[ContextField]
    CONTEXT_FIELD_TRAFFIC: _ClassVar[ContextField]
    CONTEXT_FIELD_WORKERS: _ClassVar[ContextField]
    CONTEXT_FIELD_PREDICTIONS: _ClassVar[ContextField]
    CONTEXT_FIELD_PROPOSAL: _ClassVar[ContextField]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_ACCEPT: _ClassVar[Verdict]
    VERDICT_OVERRIDE: _ClassVar[Verdict]
    VERDICT_REJECT: _ClassVar[Verdict]

class Bound(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOUND_UNSPECIFIED: _ClassVar[Bound]
    BOUND_SET: _ClassVar[Bound]
    BOUND_AT_LEAST: _ClassVar[Bound]
    BOUND_AT_MOST: _ClassVar[Bound]
STAGE_UNSPECIFIED: Stage
STAGE_OBSERVE: Stage
STAGE_PREDICT: Stage
STAGE_PROPOSE: Stage
STAGE_CLAMP: Stage
STAGE_APPLY: Stage
ROLE_UNSPECIFIED: Role
ROLE_PREFILL: Role
ROLE_DECODE: Role
ROLE_AGG: Role
HOLD_POLICY_UNSPECIFIED: HoldPolicy
HOLD_POLICY_HOLD_LAST: HoldPolicy
HOLD_POLICY_NO_OPINION: HoldPolicy
ON_ERROR_UNSPECIFIED: OnError
ON_ERROR_SKIP: OnError
ON_ERROR_HOLD_LAST: OnError
ON_ERROR_REJECT_TICK: OnError
CONTEXT_FIELD_UNSPECIFIED: ContextField
CONTEXT_FIELD_REPLICAS: ContextField
CONTEXT_FIELD_TRAFFIC: ContextField
CONTEXT_FIELD_WORKERS: ContextField
CONTEXT_FIELD_PREDICTIONS: ContextField
CONTEXT_FIELD_PROPOSAL: ContextField
VERDICT_UNSPECIFIED: Verdict
VERDICT_ACCEPT: Verdict
VERDICT_OVERRIDE: Verdict
VERDICT_REJECT: Verdict
BOUND_UNSPECIFIED: Bound
BOUND_SET: Bound
BOUND_AT_LEAST: Bound
BOUND_AT_MOST: Bound

class PluginDeclaration(_message.Message):
    __slots__ = ("id", "stage", "priority", "execution_interval_seconds", "hold", "needs", "requires", "timeout_seconds", "on_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    NEEDS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ON_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    stage: Stage
    priority: int
    execution_interval_seconds: float
    hold: HoldPolicy
    needs: _containers.RepeatedScalarFieldContainer[ContextField]
    requires: _containers.RepeatedScalarFieldContainer[ContextField]
    timeout_seconds: float
    on_error: OnError
    def __init__(self, id: _Optional[str] = ..., stage: _Optional[_Union[Stage, str]] = ..., priority: _Optional[int] = ..., execution_interval_seconds: _Optional[float] = ..., hold: _Optional[_Union[HoldPolicy, str]] = ..., needs: _Optional[_Iterable[_Union[ContextField, str]]] = ..., requires: _Optional[_Iterable[_Union[ContextField, str]]] = ..., timeout_seconds: _Optional[float] = ..., on_error: _Optional[_Union[OnError, str]] = ...) -> None: ...

class ReplicaCount(_message.Message):
    __slots__ = ("role", "ready", "expected")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    role: Role
    ready: int
    expected: int
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., ready: _Optional[int] = ..., expected: _Optional[int] = ...) -> None: ...

class TrafficObservation(_message.Message):
    __slots__ = ("window_seconds", "num_requests", "mean_isl", "mean_osl", "mean_ttft_ms", "mean_itl_ms", "isl_cv", "osl_cv", "arrival_dispersion", "recent_window_seconds", "recent_num_requests", "busiest_slice_requests", "within_slice_dispersion")
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NUM_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MEAN_ISL_FIELD_NUMBER: _ClassVar[int]
    MEAN_OSL_FIELD_NUMBER: _ClassVar[int]
    MEAN_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_ITL_MS_FIELD_NUMBER: _ClassVar[int]
    ISL_CV_FIELD_NUMBER: _ClassVar[int]
    OSL_CV_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_DISPERSION_FIELD_NUMBER: _ClassVar[int]
    RECENT_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RECENT_NUM_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BUSIEST_SLICE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    WITHIN_SLICE_DISPERSION_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    num_requests: float
    mean_isl: float
    mean_osl: float
    mean_ttft_ms: float
    mean_itl_ms: float
    isl_cv: float
    osl_cv: float
    arrival_dispersion: float
    recent_window_seconds: float
    recent_num_requests: float
    busiest_slice_requests: float
    within_slice_dispersion: float
    def __init__(self, window_seconds: _Optional[float] = ..., num_requests: _Optional[float] = ..., mean_isl: _Optional[float] = ..., mean_osl: _Optional[float] = ..., mean_ttft_ms: _Optional[float] = ..., mean_itl_ms: _Optional[float] = ..., isl_cv: _Optional[float] = ..., osl_cv: _Optional[float] = ..., arrival_dispersion: _Optional[float] = ..., recent_window_seconds: _Optional[float] = ..., recent_num_requests: _Optional[float] = ..., busiest_slice_requests: _Optional[float] = ..., within_slice_dispersion: _Optional[float] = ...) -> None: ...

class WorkerLoad(_message.Message):
    __slots__ = ("worker_id", "role", "queued_prefill_requests", "queued_prefill_tokens", "scheduled_kv_tokens", "queued_kv_tokens", "max_kv_tokens", "running_requests", "forward_pass_ms", "recent_ttft_ms", "recent_itl_ms", "missing", "forward_pass_tokens")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_PREFILL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_PREFILL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_KV_TOKENS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_KV_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_KV_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    FORWARD_PASS_MS_FIELD_NUMBER: _ClassVar[int]
    RECENT_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    RECENT_ITL_MS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    FORWARD_PASS_TOKENS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    role: Role
    queued_prefill_requests: float
    queued_prefill_tokens: float
    scheduled_kv_tokens: float
    queued_kv_tokens: float
    max_kv_tokens: float
    running_requests: float
    forward_pass_ms: float
    recent_ttft_ms: float
    recent_itl_ms: float
    missing: bool
    forward_pass_tokens: float
    def __init__(self, worker_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., queued_prefill_requests: _Optional[float] = ..., queued_prefill_tokens: _Optional[float] = ..., scheduled_kv_tokens: _Optional[float] = ..., queued_kv_tokens: _Optional[float] = ..., max_kv_tokens: _Optional[float] = ..., running_requests: _Optional[float] = ..., forward_pass_ms: _Optional[float] = ..., recent_ttft_ms: _Optional[float] = ..., recent_itl_ms: _Optional[float] = ..., missing: _Optional[bool] = ..., forward_pass_tokens: _Optional[float] = ...) -> None: ...

class Observations(_message.Message):
    __slots__ = ("traffic", "has_workers", "workers")
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    HAS_WORKERS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    traffic: TrafficObservation
    has_workers: bool
    workers: _containers.RepeatedCompositeFieldContainer[WorkerLoad]
    def __init__(self, traffic: _Optional[_Union[TrafficObservation, _Mapping]] = ..., has_workers: _Optional[bool] = ..., workers: _Optional[_Iterable[_Union[WorkerLoad, _Mapping]]] = ...) -> None: ...

class Predictions(_message.Message):
    __slots__ = ("num_requests", "isl", "osl", "num_requests_ahead")
    NUM_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ISL_FIELD_NUMBER: _ClassVar[int]
    OSL_FIELD_NUMBER: _ClassVar[int]
    NUM_REQUESTS_AHEAD_FIELD_NUMBER: _ClassVar[int]
    num_requests: float
    isl: float
    osl: float
    num_requests_ahead: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, num_requests: _Optional[float] = ..., isl: _Optional[float] = ..., osl: _Optional[float] = ..., num_requests_ahead: _Optional[_Iterable[float]] = ...) -> None: ...

class RoleCount(_message.Message):
    __slots__ = ("role", "replicas")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    replicas: int
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., replicas: _Optional[int] = ...) -> None: ...

class PlannerView(_message.Message):
    __slots__ = ("mode", "roles", "optimization_target", "ttft_ms", "itl_ms", "max_gpu_budget", "gpus_per_engine", "min_endpoint")
    MODE_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZATION_TARGET_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    ITL_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_GPU_BUDGET_FIELD_NUMBER: _ClassVar[int]
    GPUS_PER_ENGINE_FIELD_NUMBER: _ClassVar[int]
    MIN_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    mode: str
    roles: _containers.RepeatedScalarFieldContainer[Role]
    optimization_target: str
    ttft_ms: float
    itl_ms: float
    max_gpu_budget: int
    gpus_per_engine: _containers.RepeatedCompositeFieldContainer[RoleCount]
    min_endpoint: _containers.RepeatedCompositeFieldContainer[RoleCount]
    def __init__(self, mode: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[Role, str]]] = ..., optimization_target: _Optional[str] = ..., ttft_ms: _Optional[float] = ..., itl_ms: _Optional[float] = ..., max_gpu_budget: _Optional[int] = ..., gpus_per_engine: _Optional[_Iterable[_Union[RoleCount, _Mapping]]] = ..., min_endpoint: _Optional[_Iterable[_Union[RoleCount, _Mapping]]] = ...) -> None: ...

class TickContext(_message.Message):
    __slots__ = ("tick_id", "decision_id", "now", "planner", "has_replicas", "replicas", "observations", "predictions", "has_proposal", "proposal")
    TICK_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    PLANNER_FIELD_NUMBER: _ClassVar[int]
    HAS_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    HAS_PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    tick_id: int
    decision_id: int
    now: float
    planner: PlannerView
    has_replicas: bool
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaCount]
    observations: Observations
    predictions: Predictions
    has_proposal: bool
    proposal: _containers.RepeatedCompositeFieldContainer[RoleCount]
    def __init__(self, tick_id: _Optional[int] = ..., decision_id: _Optional[int] = ..., now: _Optional[float] = ..., planner: _Optional[_Union[PlannerView, _Mapping]] = ..., has_replicas: _Optional[bool] = ..., replicas: _Optional[_Iterable[_Union[ReplicaCount, _Mapping]]] = ..., observations: _Optional[_Union[Observations, _Mapping]] = ..., predictions: _Optional[_Union[Predictions, _Mapping]] = ..., has_proposal: _Optional[bool] = ..., proposal: _Optional[_Iterable[_Union[RoleCount, _Mapping]]] = ...) -> None: ...

class PredictResult(_message.Message):
    __slots__ = ("predictions", "final", "note")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    predictions: Predictions
    final: bool
    note: str
    def __init__(self, predictions: _Optional[_Union[Predictions, _Mapping]] = ..., final: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ReplicaTarget(_message.Message):
    __slots__ = ("role", "bound", "replicas")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    bound: Bound
    replicas: int
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., bound: _Optional[_Union[Bound, str]] = ..., replicas: _Optional[int] = ...) -> None: ...

class ProposeResult(_message.Message):
    __slots__ = ("verdict", "targets", "final", "reason", "estimated_ttft_ms", "estimated_itl_ms")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_ITL_MS_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    targets: _containers.RepeatedCompositeFieldContainer[ReplicaTarget]
    final: bool
    reason: str
    estimated_ttft_ms: float
    estimated_itl_ms: float
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., targets: _Optional[_Iterable[_Union[ReplicaTarget, _Mapping]]] = ..., final: _Optional[bool] = ..., reason: _Optional[str] = ..., estimated_ttft_ms: _Optional[float] = ..., estimated_itl_ms: _Optional[float] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("decision_id", "targets", "advisory", "reasons")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    ADVISORY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    decision_id: int
    targets: _containers.RepeatedCompositeFieldContainer[RoleCount]
    advisory: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, decision_id: _Optional[int] = ..., targets: _Optional[_Iterable[_Union[RoleCount, _Mapping]]] = ..., advisory: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class ApplyAck(_message.Message):
    __slots__ = ("decision_id", "accepted", "message")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    decision_id: int
    accepted: bool
    message: str
    def __init__(self, decision_id: _Optional[int] = ..., accepted: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...
