"""Decode sizing counts the KV-ITL loop: more KV slows steps, slower steps keep requests, kept requests hold more KV."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from helpers import finished_requests
from planner.config import PlannerConfig
from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.signals import FrontendWindow
from planner.sim.world import load_perf
from planner_plugins.propose import sizing
from planner_plugins.propose.queueing import normal_quantile
from planner_plugins.propose.sizing import LengthMix, decode_engines, decode_itl_quantile_ms
from planner_plugins.traces import load_trace
from planner_sdk import Role

PERF = load_perf(PlannerConfig())
Z = normal_quantile(PlannerConfig().queue_aware_quantile)
ITL_MS = 30.0
BUNCHED = Path(__file__).parent / "data" / "mooncake_conversation_x5_minutes46_47.jsonl"
"""Minutes 46 and 47 of Mooncake conversation x5: in the second, a bunch of long prompts (1.35 x the
rate with 1.2 x the context for 15 s) fills four decode engines' KV."""


def itl_misses(decode: int) -> float:
    """Share of the slice's requests over ITL_MS on `decode` engines (prefill plentiful)."""
    cluster = SimCluster(PERF, load_trace(BUNCHED).requests, {Role.PREFILL: 40, Role.DECODE: decode}, SimSettings())
    finished = finished_requests(cluster)
    cluster.run_until_drained()
    itls = [r.itl_s * 1000 for r in finished if r.osl > 1]
    return sum(itl > ITL_MS for itl in itls) / len(itls)


def engines_for_the_bunched_minute() -> int:
    """Decode engines for the second minute's rate and lengths, as its frontend reads them."""
    cluster = SimCluster(PERF, load_trace(BUNCHED).requests, {Role.PREFILL: 40, Role.DECODE: 8}, SimSettings())
    cluster.run_until_drained()
    seen = FrontendWindow(cluster).traffic(60.0, 120.0)
    readings = (seen.num_requests, seen.mean_isl, seen.mean_osl, seen.isl_cv, seen.osl_cv, seen.arrival_dispersion)
    count, isl, osl, isl_cv, osl_cv, dispersion = (float(r) for r in readings if r is not None)
    return decode_engines(PERF, count / 60.0, LengthMix(isl, osl, isl_cv, osl_cv, dispersion), ITL_MS, Z)


def test_a_bunch_of_long_prompts_gets_the_decode_engines_whose_kv_does_not_overflow() -> None:
    assert itl_misses(engines_for_the_bunched_minute()) <= 0.01


def test_without_the_loop_the_bunch_was_sized_to_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizing, "FEEDBACK_SHARE", 0.0)
    assert itl_misses(engines_for_the_bunched_minute()) > 0.05  # KV full: requests wait to start


def test_the_loop_amplifies_more_the_fuller_the_engines() -> None:
    mix, rate = LengthMix(10800, 349, 1.0, 0.7, 4.0), 19.3
    gains = []
    for engines in (4, 5, 6, 8):
        running = sizing._decode_running(PERF, rate / engines, mix, PERF.decode.itl_ms(0.0, mix.context))
        gains.append(sizing._kv_feedback(PERF, rate / engines, mix, running))
    assert all(g > 1.0 for g in gains)
    assert gains == sorted(gains, reverse=True)


def test_a_batch_whose_loop_gain_passes_one_has_no_level_to_settle_at() -> None:
    mix = LengthMix(10800, 349, 1.0, 0.7)
    running = sizing._decode_running(PERF, 60.0, mix, PERF.decode.itl_ms(0.0, mix.context))
    assert sizing._kv_feedback(PERF, 60.0, mix, running) == math.inf
    assert decode_itl_quantile_ms(PERF, 60.0, mix, 1, Z) == math.inf
