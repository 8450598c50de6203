"""Decode is sized for the context its batch really holds, read from the engines' KV, not assumed from mean lengths."""

from __future__ import annotations

import random

import pytest

from helpers import finished_requests
from planner.config import PlannerConfig
from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.world import load_perf
from planner_plugins.propose.decode_context import MIN_RUNNING, DecodeContext
from planner_plugins.propose.sizing import LengthMix, decode_itl_quantile_ms
from planner_plugins.traces import TraceRequest, poisson_trace
from planner_sdk import Role, WorkerLoad

P, D = Role.PREFILL, Role.DECODE
PERF = load_perf(PlannerConfig())
Z99 = 2.326
RATE, DECODE_ENGINES = 12.0, 2


def long_prompts_short_answers(seconds: float = 300.0) -> list[TraceRequest]:
    """Half the requests are 16k-token prompts with 50-token answers, half 2k-token ones with 400:
    the mean prompt is 9k tokens, the prompt the batch holds for as long as it decodes 3.6k."""
    rng = random.Random(7)
    requests, t = [], 0.0
    while t < seconds:
        t += rng.expovariate(RATE)
        isl, osl = (16000, 50) if rng.random() < 0.5 else (2000, 400)
        requests.append(TraceRequest(t, isl, osl))
    return requests


def simulate(requests: list[TraceRequest], context: DecodeContext, mix: LengthMix) -> float:
    """The p99 ITL (ms) of `requests` on 8P and `DECODE_ENGINES` decode engines, feeding `context`
    the decode engines' loads once every 10 simulated seconds."""
    cluster = SimCluster(PERF, requests, {P: 8, D: DECODE_ENGINES}, SimSettings())
    finished = finished_requests(cluster)
    for second in range(60, int(requests[-1].arrival), 10):
        cluster.advance_to(float(second))
        context.observe(cluster.worker_loads(), mix)
    cluster.run_until_drained()
    itls = sorted(r.itl_s for r in finished if r.osl > 1)
    return itls[int(0.99 * len(itls))] * 1000


def mean_mix(requests: list[TraceRequest]) -> LengthMix:
    isl = sum(r.isl for r in requests) / len(requests)
    osl = sum(r.osl for r in requests) / len(requests)
    return LengthMix(isl, osl, 0.78, 0.78)  # both lengths' spread in this two-point mix


def test_a_batch_of_long_prompts_with_short_answers_is_modelled_at_the_kv_it_holds() -> None:
    requests = long_prompts_short_answers()
    mix, context = mean_mix(requests), DecodeContext()
    simulated = simulate(requests, context, mix)
    assumed = decode_itl_quantile_ms(PERF, RATE, mix, DECODE_ENGINES, Z99)
    read = decode_itl_quantile_ms(PERF, RATE, context.mix(mix), DECODE_ENGINES, Z99)
    assert context.ratio < 0.6
    assert read == pytest.approx(simulated, rel=0.25)
    assert assumed > 1.5 * simulated  # independent lengths would have sized for twice the KV


def test_independent_lengths_read_as_the_mix_says() -> None:
    requests = poisson_trace("steady", lambda t: RATE, RATE, 300, isl=9000, osl=225, length_cv=0.5, seed=3).requests
    context = DecodeContext()
    simulate(list(requests), context, LengthMix(9000, 225, 0.5, 0.5))
    assert context.ratio == pytest.approx(1.0, abs=0.1)


def test_too_few_requests_decoding_leave_the_mix_as_it_is() -> None:
    context, mix = DecodeContext(), LengthMix(9000, 225)
    context.observe([WorkerLoad("d0", D, scheduled_kv_tokens=1000.0, running_requests=MIN_RUNNING - 1)], mix)
    assert context.ratio == 1.0
    assert context.mix(mix) is mix


def test_prefill_engines_and_missing_workers_do_not_count() -> None:
    context, mix = DecodeContext(), LengthMix(9000, 225)
    context.observe(
        [
            WorkerLoad("p0", P, scheduled_kv_tokens=1.0, running_requests=100.0),
            WorkerLoad("d0", D, scheduled_kv_tokens=1.0, running_requests=100.0, missing=True),
        ],
        mix,
    )
    assert context.ratio == 1.0
