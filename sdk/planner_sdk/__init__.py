"""planner-sdk: write plugins for the planner's observe / predict / propose / clamp / apply stages."""

from __future__ import annotations

from ._context import ContextField, PlannerView, TickContext
from ._errors import (
    PlannerError,
    PluginConnectionError,
    PluginDeclarationError,
    PluginError,
    PluginProtocolError,
    PluginTimeoutError,
)
from ._plugin import (
    PLUGIN_ID_PATTERN,
    ApplyPlugin,
    ClampPlugin,
    ObservePlugin,
    Plugin,
    PluginSpec,
    PredictPlugin,
    ProposePlugin,
)
from ._types import (
    ApplyAck,
    Bound,
    ClampResult,
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
    StageResult,
    TrafficObservation,
    Verdict,
    WorkerLoad,
)

__version__ = "0.1.0"

__all__ = [
    "PLUGIN_ID_PATTERN",
    "ApplyAck",
    "ApplyPlugin",
    "Bound",
    "ClampPlugin",
    "ClampResult",
    "ContextField",
    "Decision",
    "HoldPolicy",
    "ObservePlugin",
    "Observations",
    "OnError",
    "PlannerError",
    "PlannerView",
    "Plugin",
    "PluginConnectionError",
    "PluginDeclarationError",
    "PluginError",
    "PluginProtocolError",
    "PluginSpec",
    "PluginTimeoutError",
    "PredictPlugin",
    "PredictResult",
    "Predictions",
    "ProposePlugin",
    "ProposeResult",
    "ReplicaCount",
    "ReplicaTarget",
    "Role",
    "Stage",
    "StageResult",
    "TickContext",
    "TrafficObservation",
    "Verdict",
    "WorkerLoad",
    "__version__",
]
