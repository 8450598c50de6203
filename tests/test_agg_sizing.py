"""Aggregated engines sized from mixed steps (prefill chunks beside a decode batch), and engines of
several GPUs counted as the engines the model measures."""

from __future__ import annotations

import math

import pytest

from planner_plugins.perf import BUNDLED_PROFILE_DIR, PerfModel, load_profile
from planner_plugins.propose import SizingSettings, ThroughputPropose
from planner_plugins.propose.sizing import STEP_TOKEN_BUDGET, LengthMix, agg_engines, agg_latency_quantiles_ms
from planner_sdk import PlannerView, Predictions, ReplicaCount, Role, TickContext

P, D, A = Role.PREFILL, Role.DECODE, Role.AGG
PERF = PerfModel.from_profile(load_profile(BUNDLED_PROFILE_DIR))
Z = 2.576
MIX = LengthMix(3000, 200, 1.0, 1.0)


def test_a_mixed_step_costs_the_decode_step_plus_what_the_prompt_tokens_add() -> None:
    decode_only = PERF.mixed_step_ms(0, 32, 3000)
    with_chunk = PERF.mixed_step_ms(2048, 32, 3000)
    assert decode_only == pytest.approx(PERF.decode.itl_ms(32 * 3000 / PERF.decode.max_kv_tokens, 3000))
    # The pass's fixed cost is paid once: less than a separate prefill pass and decode step together.
    assert with_chunk - decode_only == pytest.approx(PERF.prefill.batch_ms(2048) - PERF.prefill.fixed_ms)
    assert with_chunk < PERF.prefill.batch_ms(2048) + decode_only


@pytest.mark.parametrize(("rate", "ttft_ms", "itl_ms"), [(5, 1000, 25), (40, 1000, 25), (40, 600, 15)])
def test_the_fewest_agg_engines_meet_both_targets_and_one_fewer_would_not(
    rate: float, ttft_ms: float, itl_ms: float
) -> None:
    engines = agg_engines(PERF, rate, MIX, ttft_ms, itl_ms, Z)
    ttft, itl = agg_latency_quantiles_ms(PERF, rate, MIX, engines, Z)
    assert ttft <= ttft_ms
    assert itl <= itl_ms
    if engines > 1:
        fewer = agg_latency_quantiles_ms(PERF, rate, MIX, engines - 1, Z)
        assert fewer[0] > ttft_ms or fewer[1] > itl_ms


def test_more_prompt_tokens_than_the_engines_step_budgets_hold_cannot_be_served() -> None:
    per_step = STEP_TOKEN_BUDGET / (PERF.mixed_step_ms(STEP_TOKEN_BUDGET, 0, 3000) / 1000)
    assert agg_latency_quantiles_ms(PERF, 2 * per_step / MIX.isl, MIX, 1, Z) == (math.inf, math.inf)


def test_longer_prompts_need_more_agg_engines() -> None:
    short = agg_engines(PERF, 20, LengthMix(1000, 200), 1500, 25, Z)
    long = agg_engines(PERF, 20, LengthMix(8000, 200), 1500, 25, Z)
    assert long > short


def sizer(roles: tuple[Role, ...], gpus: int = 1) -> ThroughputPropose:
    settings = SizingSettings(
        interval_s=60, ttft_ms=1000, itl_ms=25, min_endpoint={P: 1, D: 1, A: 1}, sizing="queue_aware",
        correction=False, prefill_gpus=gpus, decode_gpus=gpus,
    )  # fmt: skip
    return ThroughputPropose(PERF, settings, roles, False)


def context(roles: tuple[Role, ...], num: float) -> TickContext:
    view = PlannerView("agg" if A in roles else "disagg", roles, "sla", 1000, 25, -1, {}, {})
    return TickContext(
        1, 1, 0.0, view, {role: ReplicaCount(1, 1) for role in roles}, predictions=Predictions(num, 3000, 200)
    )


def test_agg_mode_proposes_the_engines_its_mixed_steps_need_with_their_latency() -> None:
    result = sizer((A,)).propose(context((A,), 2400))  # 40 requests/s
    [target] = result.targets
    assert target.role is A
    assert target.replicas == agg_engines(PERF, 40, MIX, 1000, 25, Z)
    assert result.estimated_itl_ms is not None
    assert result.estimated_itl_ms <= 25


def test_an_engine_of_several_gpus_is_one_engine_of_the_model() -> None:
    # The model's latencies are a whole engine's: engines of two GPUs each are not counted in halves.
    one = {t.role: t.replicas for t in sizer((P, D), gpus=1).propose(context((P, D), 6000)).targets}
    two = {t.role: t.replicas for t in sizer((P, D), gpus=2).propose(context((P, D), 6000)).targets}
    assert two == one
