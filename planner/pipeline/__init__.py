"""The stage pipeline: observe, predict, propose, clamp, then safety and apply."""

from __future__ import annotations

from .clamp import ClampOutcome, apply_clamps
from .invoke import CallOutcome, CallSettings, CallTrace, Contribution, run_concurrently, run_plugin
from .observe import merge_observations
from .predict import fill_predictions, run_predict_chain
from .propose import MergedTargets, bound_role, merge_proposals
from .record import OUTCOMES, DecisionRecorder, TickRecord, to_jsonable
from .safety import SafetyGuard, SafetyLimits, SafetyOutcome, enforce_limits
from .tick import TickPipeline, planner_view, safety_limits
from .validate import validate_result

__all__ = [
    "OUTCOMES",
    "CallOutcome",
    "CallSettings",
    "CallTrace",
    "ClampOutcome",
    "Contribution",
    "DecisionRecorder",
    "MergedTargets",
    "SafetyGuard",
    "SafetyLimits",
    "SafetyOutcome",
    "TickPipeline",
    "TickRecord",
    "apply_clamps",
    "bound_role",
    "enforce_limits",
    "fill_predictions",
    "merge_observations",
    "merge_proposals",
    "planner_view",
    "run_concurrently",
    "run_plugin",
    "run_predict_chain",
    "safety_limits",
    "to_jsonable",
    "validate_result",
]
