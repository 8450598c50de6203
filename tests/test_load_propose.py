"""Load-based proposing: preset edges, ±1 moves, holds while scaling, the stuck-pending timeout."""

from __future__ import annotations

import pytest

from planner_plugins.builtins import load_thresholds
from planner_plugins.propose import PRESETS, LoadPropose, LoadThresholds, decide_role
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
