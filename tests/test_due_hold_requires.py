"""A plugin runs when due and its required context is set; otherwise its hold policy speaks."""

from __future__ import annotations

import anyio
import pytest

from helpers import Observe, Predict, Propose, memory, planner, set_targets, traffic
from planner import InProcessTransport, TickRecord, VirtualClock
from planner_sdk import ContextField, HoldPolicy, Predictions, ProposeResult, Role

pytestmark = pytest.mark.anyio


async def test_a_plugin_fires_on_its_first_tick_then_every_interval() -> None:
    clock = VirtualClock()
    fast = Propose("fast", ProposeResult.accept(), interval=5)
    slow = Propose("slow", ProposeResult.accept(), interval=15)
    async with planner(clock, fast, slow) as p, clock.autojump():
        await p.run(max_ticks=7)  # t = 0, 5, ..., 30
    first = fast.calls[0].now
    assert [c.now - first for c in fast.calls] == [0, 5, 10, 15, 20, 25, 30]
    assert [c.tick_id for c in slow.calls] == [1, 4, 7]


async def test_hold_last_replays_the_last_result_when_not_due() -> None:
    clock = VirtualClock()
    floor = Propose("floor", ProposeResult.at_least({Role.DECODE: 4}), interval=15, hold=HoldPolicy.HOLD_LAST)
    ticker = Propose("ticker", ProposeResult.accept(), interval=5)
    records: list[TickRecord] = []
    async with planner(clock, floor, ticker, connector=memory(clock, 1, 1), records=records) as p, clock.autojump():
        await p.run(max_ticks=3)
    assert len(floor.calls) == 1
    assert [r.calls[0].status for r in records] == ["ok", "held", "held"]
    assert all(r.clamped == {Role.DECODE: 4} for r in records)


async def test_no_opinion_says_nothing_when_not_due() -> None:
    clock = VirtualClock()
    floor = Propose("floor", ProposeResult.at_least({Role.DECODE: 4}), interval=15, hold=HoldPolicy.NO_OPINION)
    ticker = Propose("ticker", ProposeResult.accept(), interval=5)
    records: list[TickRecord] = []
    async with planner(clock, floor, ticker, records=records) as p, clock.autojump():
        await p.run(max_ticks=2)
    assert records[1].calls[0].status == "not_due"
    assert records[1].outcome == "skipped_no_targets"


async def test_a_plugin_whose_required_field_is_unset_waits_and_keeps_its_slot() -> None:
    clock = VirtualClock()
    needy = Propose("needy", set_targets(2, 2), interval=15, requires=frozenset({ContextField.PREDICTIONS}))
    ticker = Propose("ticker", ProposeResult.accept(), interval=5)
    records: list[TickRecord] = []
    async with planner(clock, needy, ticker, records=records) as p, clock.autojump():

        async def predictions_arrive_at_t7() -> None:
            await clock.sleep_until(7.0)
            predictor = Predict("late_predictor", Predictions(num_requests=10), interval=5)
            p.add_transport(InProcessTransport(predictor, clock), source="api")

        async with anyio.create_task_group() as group:
            group.start_soon(predictions_arrive_at_t7)
            await p.run(max_ticks=4)  # t = 0, 5, 10, 15
    # Unfired at t=0 and t=5 for want of predictions, it fires at t=10; then it waits out its interval.
    statuses = [next(c.status for c in r.calls if c.plugin_id == "needy") for r in records]
    assert statuses == ["requires_unmet", "requires_unmet", "ok", "not_due"]
    assert needy.calls[0].predictions.num_requests == 10


async def test_the_context_is_trimmed_to_what_the_plugin_needs() -> None:
    clock = VirtualClock()
    observer = Observe("obs", traffic(120))
    blind = Propose("blind", ProposeResult.accept())
    sighted = Propose("sighted", ProposeResult.accept(), needs=frozenset({ContextField.TRAFFIC}))
    async with planner(clock, observer, blind, sighted) as p, clock.autojump():
        await p.run(max_ticks=1)
    assert blind.calls[0].observations.traffic is None
    assert blind.calls[0].replicas is None
    traffic_seen = sighted.calls[0].observations.traffic
    assert traffic_seen is not None
    assert traffic_seen.num_requests == 120
