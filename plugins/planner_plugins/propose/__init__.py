"""Proposing: throughput-based (predictive) and load-based (reactive) replica targets."""

from __future__ import annotations

from .load import PRESETS, LoadPropose, LoadThresholds, decide_role
from .queueing import erlang_c, servers_for_wait, wait_exceeds
from .throughput import Corrections, SizingSettings, ThroughputPropose, dynamo_decode, dynamo_prefill

__all__ = [
    "PRESETS",
    "Corrections",
    "LoadPropose",
    "LoadThresholds",
    "SizingSettings",
    "ThroughputPropose",
    "decide_role",
    "dynamo_decode",
    "dynamo_prefill",
    "erlang_c",
    "servers_for_wait",
    "wait_exceeds",
]
