"""Load-based proposing: preset edges, ±1 moves, holds while scaling, the stuck-pending timeout."""

from __future__ import annotations

import pytest

from planner_plugins.builtins import load_thresholds
from planner_plugins.propose import PRESETS, LoadPropose, LoadThresholds, SlaLoadSettings, decide_role
from planner_sdk import Observations, PlannerView, ReplicaCount, Role, TickContext, WorkerLoad

P, D = Role.PREFILL, Role.DECODE
CONTEXT = 100_000.0
pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("preset", "pressure", "expected"),
    [
        ("throughput", 1.0, 1),  # at the up edge: grow
        ("throughput", 0.99, 0),
        ("throughput", 0.1, 0),  # at the down edge: hold
        ("throughput", 0.09, -1),
        ("latency", 0.1, 1),
        ("latency", 0.05, 0),
        ("latency", 0.0, -1),  # a zero down edge: shrink only when nothing is queued
    ],
)
def test_prefill_preset_edges(preset: str, pressure: float, expected: int) -> None:
    t = PRESETS[preset]
    assert decide_role([pressure], t.prefill_up, t.prefill_down)[0] == expected


@pytest.mark.parametrize(
    ("preset", "pressure", "expected"),
    [
        ("throughput", 1.0, 1),
        ("throughput", 0.6, 0),
        ("throughput", 0.59, -1),
        ("latency", 0.4, 1),
        ("latency", 0.09, -1),
    ],
)
def test_decode_preset_edges(preset: str, pressure: float, expected: int) -> None:
    t = PRESETS[preset]
    assert decide_role([pressure], t.decode_up, t.decode_down)[0] == expected


def test_one_hot_engine_is_enough_to_grow_but_every_engine_must_be_quiet_to_shrink() -> None:
    assert decide_role([0.0, 0.0, 1.5], 1.0, 0.1)[0] == 1
    assert decide_role([0.0, 0.05, 0.5], 1.0, 0.1)[0] == 0


def test_the_load_target_uses_the_users_thresholds() -> None:
    settings = {
        "optimization_target": "load", "engine_context_length": 1000, "prefill_scale_up_queue_tokens": 800,
        "prefill_scale_down_queue_tokens": 100, "decode_scale_up_kv_rate": 0.8, "decode_scale_down_kv_rate": 0.3,
    }  # fmt: skip
    assert load_thresholds(settings) == LoadThresholds(0.8, 0.1, 0.8, 0.3)


def test_up_must_exceed_down() -> None:
    with pytest.raises(ValueError, match="must exceed"):
        LoadThresholds(0.1, 0.5, 0.9, 0.5)


def view() -> PlannerView:
    return PlannerView("disagg", (P, D), "throughput", 500, 50, -1, {P: 1, D: 1}, {P: 1, D: 1})


def context(
    workers: tuple[WorkerLoad, ...] | None, prefill: ReplicaCount, decode: ReplicaCount, now: float = 0.0
) -> TickContext:
    return TickContext(1, 1, now, view(), {P: prefill, D: decode}, Observations(workers=workers))


def busy_workers() -> tuple[WorkerLoad, ...]:
    return (
        WorkerLoad("p0", P, queued_prefill_tokens=2 * CONTEXT),
        WorkerLoad("d0", D, scheduled_kv_tokens=900, queued_kv_tokens=300, max_kv_tokens=1000),
    )


def plugin(min_observations: int = 1) -> LoadPropose:
    return LoadPropose(PRESETS["throughput"], (P, D), 5.0, CONTEXT, min_observations, pending_timeout_s=600)


async def test_each_role_moves_by_one() -> None:
    result = await plugin().propose(context(busy_workers(), ReplicaCount(2, 2), ReplicaCount(3, 3)))
    assert {t.role: t.replicas for t in result.targets} == {P: 3, D: 4}


async def test_missing_worker_metrics_change_nothing() -> None:
    loop = plugin()
    result = await loop.propose(context(None, ReplicaCount(2, 2), ReplicaCount(3, 3)))
    assert result.targets == ()
    assert loop.last_reasons == {P: "no_worker_metrics", D: "no_worker_metrics"}
    missing = (WorkerLoad("p0", P, missing=True),)
    assert (await loop.propose(context(missing, ReplicaCount(2, 2), ReplicaCount(3, 3)))).targets == ()


async def test_it_waits_for_enough_observations() -> None:
    loop = plugin(min_observations=3)
    for _ in range(2):
        result = await loop.propose(context(busy_workers(), ReplicaCount(2, 2), ReplicaCount(3, 3)))
        assert result.targets == ()
        assert loop.last_reasons[P] == "insufficient_data"
    assert (await loop.propose(context(busy_workers(), ReplicaCount(2, 2), ReplicaCount(3, 3)))).targets


async def test_no_decision_while_scaling_is_in_progress() -> None:
    loop = plugin()
    result = await loop.propose(context(busy_workers(), ReplicaCount(2, 3), ReplicaCount(3, 3)))
    assert {t.role for t in result.targets} == {D}
    assert loop.last_reasons[P] == "scaling_in_progress"


async def test_a_stuck_pending_engine_stops_holding_the_loop_after_the_timeout() -> None:
    loop = plugin()
    stuck = ReplicaCount(ready=2, expected=3)
    await loop.propose(context(busy_workers(), stuck, ReplicaCount(3, 3), now=0.0))
    result = await loop.propose(context(busy_workers(), stuck, ReplicaCount(3, 3), now=601.0))
    assert {t.role: t.replicas for t in result.targets}[P] == 4
    assert loop.last_reasons[P] == "scale_up (pending_timed_out)"


def sla_plugin(sensitivity: int = 80) -> LoadPropose:
    settings = SlaLoadSettings(ttft_ms=1000.0, itl_ms=30.0, sensitivity=sensitivity, max_samples=64, buckets=16)
    return LoadPropose(settings, (P, D), 5.0, CONTEXT, min_observations=1, pending_timeout_s=600)


def decode_workers(*kv_tokens: float) -> tuple[WorkerLoad, ...]:
    # The engines' ITL grows linearly with their KV tokens: 10 ms + 1 ms per 10,000 tokens.
    return tuple(
        WorkerLoad(
            f"d{i}", D, scheduled_kv_tokens=kv, queued_kv_tokens=0, max_kv_tokens=10**6, recent_itl_ms=10 + kv / 10_000
        )
        for i, kv in enumerate(kv_tokens)
    )


async def teach(loop: LoadPropose) -> None:
    """Feed the decode model a spread of load levels so it learns ITL = 10 ms + kv / 10,000."""
    for kv in (20_000, 60_000, 100_000, 140_000, 180_000):
        await loop.propose(context(decode_workers(kv, kv), ReplicaCount(1, 1), ReplicaCount(2, 2)))


def test_the_latency_model_recovers_a_linear_law_and_solves_for_the_target_load() -> None:
    from planner_plugins.propose import LatencyModel

    model = LatencyModel(max_samples=64, buckets=16, min_samples=5)
    for kv in range(0, 200_000, 10_000):
        model.add(kv, 10 + kv / 10_000)
    assert model.fit()
    assert model.estimate(100_000) == pytest.approx(20.0, rel=0.01)
    assert model.load_for(30.0) == pytest.approx(200_000, rel=0.01)


def test_the_latency_model_keeps_old_load_levels_when_new_samples_crowd_one_level() -> None:
    from planner_plugins.propose import LatencyModel

    model = LatencyModel(max_samples=32, buckets=16, min_samples=5)
    for kv in (1_000, 50_000, 100_000, 200_000):
        model.add(kv, 10 + kv / 10_000)
    for _ in range(500):  # a long steady stretch at one load
        model.add(120_000, 22.0)
    assert model.samples <= 32
    assert model.fit()
    assert model.load_for(30.0) == pytest.approx(200_000, rel=0.1)  # the slope is still known


async def test_sla_scale_up_when_every_engine_would_miss_the_itl_target() -> None:
    loop = sla_plugin()
    await teach(loop)
    result = await loop.propose(context(decode_workers(250_000, 260_000), ReplicaCount(1, 1), ReplicaCount(2, 2)))
    assert {t.role: t.replicas for t in result.targets}.get(D) == 3
    assert loop.last_reasons[D] == "scale_up"


async def test_sla_consolidation_refuses_a_two_to_one_that_would_break_the_sla() -> None:
    loop = sla_plugin()
    await teach(loop)
    # 120k tokens each meets 30 ms (22 ms); one engine with 240k would not (34 ms).
    result = await loop.propose(context(decode_workers(120_000, 120_000), ReplicaCount(1, 1), ReplicaCount(2, 2)))
    assert D not in {t.role for t in result.targets}
    assert loop.last_reasons[D] == "scale_down_refused_consolidation"


async def test_sla_consolidation_allows_a_two_to_one_that_keeps_the_sla() -> None:
    loop = sla_plugin()
    await teach(loop)
    # 40k each: one engine with 80k runs at 18 ms, well inside 30 ms (and 80 % of the limit).
    result = await loop.propose(context(decode_workers(40_000, 40_000), ReplicaCount(1, 1), ReplicaCount(2, 2)))
    assert {t.role: t.replicas for t in result.targets}.get(D) == 1
    assert loop.last_reasons[D] == "scale_down"


async def test_sla_sensitivity_zero_never_scales_down() -> None:
    loop = sla_plugin(sensitivity=0)
    await teach(loop)
    result = await loop.propose(context(decode_workers(1_000, 1_000), ReplicaCount(1, 1), ReplicaCount(2, 2)))
    assert D not in {t.role for t in result.targets}


async def test_sla_mode_waits_for_a_model() -> None:
    loop = sla_plugin()
    result = await loop.propose(context(decode_workers(50_000, 50_000), ReplicaCount(1, 1), ReplicaCount(2, 2)))
    assert result.targets == ()
    assert loop.last_reasons[D] == "insufficient_data"
