"""A tick end to end: predict chain, faulty plugins, timeouts, deadline, advisory, apply, record."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from helpers import Hang, Predict, Propose, Recorder, Sleepy, SyncHang, memory, planner, set_targets
from planner import InMemoryConnector, TickRecord, VirtualClock
from planner.pipeline import OUTCOMES
from planner_sdk import (
    Bound,
    ContextField,
    Decision,
    OnError,
    Predictions,
    ProposeResult,
    ReplicaTarget,
    Role,
    Verdict,
)

pytestmark = pytest.mark.anyio
P, D = Role.PREFILL, Role.DECODE


async def run_ticks(clock: VirtualClock, *plugins: object, ticks: int = 1, **kw: object) -> list[TickRecord]:
    records: list[TickRecord] = []
    async with planner(clock, *plugins, records=records, **kw) as p, clock.autojump():  # type: ignore[arg-type]
        await p.run(max_ticks=ticks)
    assert all(r.outcome in OUTCOMES for r in records)  # every outcome is one the record documents
    return records


async def test_predict_chain_runs_by_priority_first_writer_wins_final_stops() -> None:
    clock = VirtualClock()
    chained = frozenset({ContextField.PREDICTIONS})
    first = Predict("first", Predictions(num_requests=100), priority=1)
    second = Predict("second", Predictions(num_requests=999, isl=2000), priority=2, final=True, needs=chained)
    third = Predict("third", Predictions(osl=50), priority=3)
    probe = Propose("probe", ProposeResult.accept(), needs=frozenset({ContextField.PREDICTIONS}))
    records = await run_ticks(clock, third, second, first, probe)
    assert second.seen == [Predictions(num_requests=100)]  # saw what came before it
    assert third.seen == []  # the chain stopped at the final result
    assert records[0].predictions == Predictions(num_requests=100, isl=2000)
    assert probe.calls[0].predictions == Predictions(num_requests=100, isl=2000)


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        (ProposeResult.override(ReplicaTarget(P, Bound.SET, -3)), "negative"),
        (ProposeResult.override(ReplicaTarget(P, Bound.SET, 2.5)), "not a whole number"),  # type: ignore[arg-type]
        (ProposeResult.override(ReplicaTarget(P, Bound.SET, float("nan"))), "not a whole number"),  # type: ignore[arg-type]
        (ProposeResult.override(ReplicaTarget(P, Bound.SET, 10**9)), "exceeds safety.max_replicas_per_role"),
        (ProposeResult.override(ReplicaTarget(Role.AGG, Bound.SET, 2)), "role"),
        (Predictions(num_requests=3), "stage propose expects ProposeResult"),
        ("garbage", "stage propose expects ProposeResult"),
    ],
)
async def test_a_nonsense_answer_costs_only_that_plugin_its_say(answer: object, complaint: str) -> None:
    clock = VirtualClock()
    bad = Propose("bad", lambda ctx: answer, priority=1)
    good = Propose("good", set_targets(2, 3), priority=50)
    records = await run_ticks(clock, bad, good)
    trace = next(c for c in records[0].calls if c.plugin_id == "bad")
    assert trace.status == "error"
    assert complaint in (trace.error or "")
    assert records[0].outcome == "applied"
    assert records[0].targets == {P: 2, D: 3}


async def test_a_crashing_plugin_is_recorded_and_the_tick_goes_on() -> None:
    clock = VirtualClock()

    def boom(ctx: object) -> ProposeResult:
        raise RuntimeError("kaput")

    records = await run_ticks(clock, Propose("crashy", boom), Propose("good", set_targets(2, 2)))
    trace = next(c for c in records[0].calls if c.plugin_id == "crashy")
    assert trace.status == "error"
    assert "RuntimeError: kaput" in (trace.error or "")
    assert records[0].outcome == "applied"


async def test_on_error_reject_tick_aborts_the_tick() -> None:
    clock = VirtualClock()

    def boom(ctx: object) -> ProposeResult:
        raise RuntimeError("kaput")

    records = await run_ticks(
        clock, Propose("strict", boom, on_error=OnError.REJECT_TICK), Propose("good", set_targets(2, 2))
    )
    assert records[0].outcome == "skipped_rejected"
    assert "strict" in records[0].reason


async def test_on_error_hold_last_reuses_the_last_good_answer() -> None:
    clock = VirtualClock()
    answers = iter([set_targets(4, 4), RuntimeError("flaky")])

    def flaky(ctx: object) -> ProposeResult:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    records = await run_ticks(clock, Propose("flaky", flaky, on_error=OnError.HOLD_LAST), ticks=2)
    assert records[1].calls[0].status == "error"
    assert records[1].clamped == {P: 4, D: 4}


async def test_a_hung_plugin_is_cut_at_its_timeout_and_the_stage_continues() -> None:
    clock = VirtualClock()
    records = await run_ticks(clock, Hang(timeout_seconds=2.0), Propose("good", set_targets(2, 2)))
    trace = next(c for c in records[0].calls if c.plugin_id == "hang")
    assert trace.status == "timeout"
    assert trace.latency_ms == pytest.approx(2000.0)
    assert records[0].outcome == "applied"
    assert records[0].duration_ms == pytest.approx(2000.0)


async def test_the_default_timeout_comes_from_the_transport_config() -> None:
    clock = VirtualClock()
    records = await run_ticks(
        clock,
        Hang(),
        Propose("good", set_targets(2, 2)),
        plugin_registration={"transport": {"request_timeout_seconds": 0.5}},
    )
    assert records[0].duration_ms == pytest.approx(500.0)


async def test_a_hung_sync_plugin_costs_its_thread_not_the_tick() -> None:
    clock = VirtualClock()
    stuck = SyncHang(timeout_seconds=1.0)
    try:
        records = await run_ticks(clock, stuck, Propose("good", set_targets(2, 2)))
    finally:
        stuck.release.set()
    trace = next(c for c in records[0].calls if c.plugin_id == "sync_hang")
    assert trace.status == "timeout"
    assert records[0].targets == {P: 2, D: 2}


async def test_a_tick_past_its_deadline_applies_nothing_and_the_next_starts_clean() -> None:
    clock = VirtualClock()
    slow = Sleepy(clock, 12.0, set_targets(5, 5), timeout_seconds=60)
    connector = memory(clock)
    records = await run_ticks(clock, slow, connector=connector, ticks=2, scheduling={"tick_max_duration_seconds": 10})
    assert records[0].outcome == "skipped_timeout"
    assert records[0].duration_ms == pytest.approx(10_000.0)
    assert connector.applied == []
    assert records[1].skipped_slots == 1  # the 10 s tick overran the slot at t=5
    assert records[1].calls[0].status == "timeout"  # a fresh call, no leftovers


async def test_a_connector_that_never_answers_costs_one_tick_not_the_planner() -> None:
    clock = VirtualClock()

    class Unanswering(InMemoryConnector):
        calls = 0

        async def apply(self, decision: Decision) -> None:
            type(self).calls += 1
            if type(self).calls == 1:
                await anyio.sleep_forever()
            await super().apply(decision)

    connector = Unanswering(clock, {Role.PREFILL: 1, Role.DECODE: 1})
    proposal = Propose("p", set_targets(2, 2), interval=30.0)
    records = await run_ticks(
        clock, proposal, connector=connector, ticks=2, scheduling={"tick_max_duration_seconds": 10}
    )
    assert records[0].outcome == "apply_failed"
    assert "did not answer within 10 s" in records[0].reason
    assert records[1].outcome == "applied"
    assert records[1].decision_id == 2  # the unanswered id stays used
    assert [d.decision_id for d in connector.applied] == [2]


async def test_advisory_mode_records_the_decision_but_applies_nothing() -> None:
    clock = VirtualClock()
    connector = memory(clock)
    records = await run_ticks(clock, Propose("p", set_targets(3, 3)), connector=connector, advisory=True)
    assert records[0].outcome == "advisory"
    assert records[0].decision_id == 1
    assert connector.applied == []


async def test_apply_plugins_receive_every_decision_with_increasing_ids() -> None:
    clock = VirtualClock()
    counts = iter(range(2, 10))
    recorder = Recorder()
    await run_ticks(clock, Propose("grow", lambda ctx: set_targets(next(counts), 1)), recorder, ticks=3)
    assert [d.decision_id for d in recorder.decisions] == [1, 2, 3]
    assert [d.targets[P] for d in recorder.decisions] == [2, 3, 4]


async def test_unchanged_targets_are_no_change_and_use_no_decision_id() -> None:
    clock = VirtualClock()
    records = await run_ticks(clock, Propose("same", set_targets(1, 1)))
    assert records[0].outcome == "no_change"
    assert records[0].decision_id is None


async def test_safety_cuts_an_oversized_proposal_to_the_budget() -> None:
    clock = VirtualClock()
    records = await run_ticks(clock, Propose("greedy", set_targets(50, 50)), max_gpu_budget=8)
    assert records[0].targets is not None
    assert sum(records[0].targets.values()) == 8
    assert records[0].outcome == "applied"


async def test_the_decision_record_is_one_json_line_per_tick(tmp_path: Path) -> None:
    clock = VirtualClock()
    path = tmp_path / "decisions.jsonl"
    await run_ticks(
        clock, Propose("p", set_targets(2, 2)), Hang(timeout_seconds=1), ticks=2, decision_record_path=str(path)
    )
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["outcome"] for line in lines] == ["applied", "no_change"]
    first = lines[0]
    assert first["targets"] == {"prefill": 2, "decode": 2}
    assert first["decision_id"] == 1
    statuses = {c["plugin_id"]: c["status"] for c in first["calls"]}
    assert statuses == {"p": "ok", "hang": "timeout"}
    assert first["calls"][0]["latency_ms"] is not None


async def test_a_reject_verdict_skips_the_tick() -> None:
    clock = VirtualClock()
    records = await run_ticks(
        clock, Propose("p", set_targets(2, 2)), Propose("veto", ProposeResult(Verdict.REJECT, reason="freeze"))
    )
    assert records[0].outcome == "skipped_rejected"
    assert "freeze" in records[0].reason
