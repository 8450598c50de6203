"""Value types that cross the plugin boundary: roles, observations, predictions, targets, results."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Role",
    "Stage",
    "HoldPolicy",
    "OnError",
    "Verdict",
    "Bound",
    "ReplicaCount",
    "TrafficObservation",
    "WorkerLoad",
    "Observations",
    "Predictions",
    "PredictResult",
    "ReplicaTarget",
    "ProposeResult",
    "ClampResult",
    "Decision",
    "ApplyAck",
    "StageResult",
]


class Role(enum.StrEnum):
    """A pool of interchangeable engines the planner sizes."""

    PREFILL = "prefill"
    DECODE = "decode"
    AGG = "agg"


class Stage(enum.StrEnum):
    """The pipeline stages, in the order a tick runs them."""

    OBSERVE = "observe"
    PREDICT = "predict"
    PROPOSE = "propose"
    CLAMP = "clamp"
    APPLY = "apply"


class HoldPolicy(enum.StrEnum):
    """What a plugin contributes on a tick where it is not due."""

    HOLD_LAST = "hold_last"
    NO_OPINION = "no_opinion"


class OnError(enum.StrEnum):
    """What a plugin's failure costs the tick."""

    SKIP = "skip"
    HOLD_LAST = "hold_last"
    REJECT_TICK = "reject_tick"


class Verdict(enum.StrEnum):
    """A propose or clamp plugin's stance on the tick."""

    ACCEPT = "accept"
    OVERRIDE = "override"
    REJECT = "reject"


class Bound(enum.StrEnum):
    """How a replica target constrains the merged result."""

    SET = "set"
    AT_LEAST = "at_least"
    AT_MOST = "at_most"


@dataclass(frozen=True, slots=True)
class ReplicaCount:
    """Engines of one role: `ready` serve traffic, `expected` have been asked for."""

    ready: int
    expected: int

    @property
    def scaling(self) -> bool:
        return self.ready != self.expected


@dataclass(frozen=True, slots=True)
class TrafficObservation:
    """Frontend traffic over the last window; unset fields were not observed."""

    window_seconds: float
    num_requests: float | None = None
    mean_isl: float | None = None
    mean_osl: float | None = None
    mean_ttft_ms: float | None = None
    mean_itl_ms: float | None = None
    isl_cv: float | None = None  # coefficient of variation (std / mean) of input lengths
    osl_cv: float | None = None  # and of output lengths
    arrival_dispersion: float | None = None  # variance / mean of arrivals per 10 s (1 for Poisson; more: bursts)
    recent_window_seconds: float | None = None  # the window's last seconds, counted apart (the observe interval)
    recent_num_requests: float | None = None  # requests that arrived over them
    busiest_slice_requests: float | None = None  # the most requests that arrived in one 10 s slice of the window
    within_slice_dispersion: float | None = None  # variance / mean of arrivals per 2 s within 10 s slices (median)


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """One engine's load right now; unset fields were not reported."""

    worker_id: str
    role: Role
    queued_prefill_requests: float | None = None
    queued_prefill_tokens: float | None = None
    scheduled_kv_tokens: float | None = None
    queued_kv_tokens: float | None = None
    max_kv_tokens: float | None = None
    running_requests: float | None = None
    forward_pass_ms: float | None = None
    recent_ttft_ms: float | None = None
    recent_itl_ms: float | None = None
    missing: bool = False
    forward_pass_tokens: float | None = None  # prompt tokens in the pass forward_pass_ms timed (prefill)


@dataclass(frozen=True, slots=True)
class Observations:
    """What observe plugins saw; merged per field across plugins."""

    traffic: TrafficObservation | None = None
    workers: tuple[WorkerLoad, ...] | None = None


@dataclass(frozen=True, slots=True)
class Predictions:
    """Next-interval load; unset is not zero.

    `num_requests_ahead` optionally forecasts the request count of each of the next few intervals
    (the first is the next one), so a proposer can size for when its decision takes effect, an
    engine start-up later; without it the next interval's count stands for all of them.
    """

    num_requests: float | None = None
    isl: float | None = None
    osl: float | None = None
    num_requests_ahead: tuple[float, ...] | None = None

    def is_empty(self) -> bool:
        return self.num_requests is None and self.isl is None and self.osl is None

    def requests_ahead(self, steps: int) -> list[float] | None:
        """Counts for the next `steps` intervals: the forecast path, extended by its last value."""
        if self.num_requests is None:
            return None
        path = list(self.num_requests_ahead or ()) or [self.num_requests]
        return (path + [path[-1]] * steps)[:steps]


@dataclass(frozen=True, slots=True)
class PredictResult:
    """A predict plugin's answer; `final` stops the chain after it."""

    predictions: Predictions
    final: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReplicaTarget:
    """One constraint on one role's replica count."""

    role: Role
    bound: Bound
    replicas: int


@dataclass(frozen=True, slots=True)
class ProposeResult:
    """A propose plugin's answer: accept (no targets), override with targets, or reject.

    `estimated_ttft_ms` / `estimated_itl_ms`: optionally, the latency the proposer expects of the
    fleet it proposes (at the quantile it sizes for), shown in the planner's metrics and reports."""

    verdict: Verdict = Verdict.ACCEPT
    targets: tuple[ReplicaTarget, ...] = ()
    final: bool = False
    reason: str = ""
    estimated_ttft_ms: float | None = None
    estimated_itl_ms: float | None = None

    def with_estimates(self, ttft_ms: float | None, itl_ms: float | None) -> ProposeResult:
        """This answer with the latency its fleet is expected to give."""
        return dataclasses.replace(self, estimated_ttft_ms=ttft_ms, estimated_itl_ms=itl_ms)

    @classmethod
    def accept(cls, reason: str = "") -> ProposeResult:
        return cls(Verdict.ACCEPT, reason=reason)

    @classmethod
    def reject(cls, reason: str) -> ProposeResult:
        return cls(Verdict.REJECT, reason=reason)

    @classmethod
    def override(
        cls,
        *targets: ReplicaTarget,
        final: bool = False,
        reason: str = "",
    ) -> ProposeResult:
        return cls(Verdict.OVERRIDE, tuple(targets), final=final, reason=reason)

    @classmethod
    def set(cls, replicas: Mapping[Role, int], *, final: bool = False, reason: str = "") -> ProposeResult:
        targets = tuple(ReplicaTarget(r, Bound.SET, n) for r, n in replicas.items())
        return cls(Verdict.OVERRIDE, targets, final=final, reason=reason)

    @classmethod
    def at_least(cls, replicas: Mapping[Role, int], reason: str = "") -> ProposeResult:
        targets = tuple(ReplicaTarget(r, Bound.AT_LEAST, n) for r, n in replicas.items())
        return cls(Verdict.OVERRIDE, targets, reason=reason)

    @classmethod
    def at_most(cls, replicas: Mapping[Role, int], reason: str = "") -> ProposeResult:
        targets = tuple(ReplicaTarget(r, Bound.AT_MOST, n) for r, n in replicas.items())
        return cls(Verdict.OVERRIDE, targets, reason=reason)


ClampResult = ProposeResult
"""Clamp plugins answer with the propose type; only AT_LEAST / AT_MOST count."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the planner applies: replica targets per role under a monotonic id."""

    decision_id: int
    targets: Mapping[Role, int]
    advisory: bool = False
    reasons: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ApplyAck:
    """An apply plugin's acknowledgement of a decision."""

    decision_id: int
    accepted: bool = True
    message: str = ""


StageResult = Observations | PredictResult | ProposeResult | ApplyAck
