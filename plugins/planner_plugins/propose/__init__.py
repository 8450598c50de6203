"""Proposing: throughput-based (predictive, with its surge check) and load-based (reactive) replica targets."""

from __future__ import annotations

from .dynamo_sizing import Corrections, dynamo_decode, dynamo_prefill
from .latency_model import LatencyModel
from .load import PRESETS, LoadPropose, LoadThresholds, SlaLoadSettings, decide_role
from .queueing import erlang_c, servers_for_wait, wait_exceeds
from .surge import SurgePropose
from .throughput import SizingSettings, ThroughputPropose

__all__ = [
    "PRESETS",
    "Corrections",
    "LatencyModel",
    "LoadPropose",
    "LoadThresholds",
    "SizingSettings",
    "SlaLoadSettings",
    "SurgePropose",
    "ThroughputPropose",
    "decide_role",
    "dynamo_decode",
    "dynamo_prefill",
    "erlang_c",
    "servers_for_wait",
    "wait_exceeds",
]
