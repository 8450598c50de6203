"""Decision ids never go back: the last one is kept beside the decision record, across restarts,
and saved before its decision is applied (a planner killed mid-apply comes back past it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import CyclingPropose, memory, planner
from planner import InMemoryConnector, TickRecord, VirtualClock
from planner.errors import ConfigError
from planner.pipeline.decision_ids import DecisionIdStore
from planner_sdk import Decision, Role

pytestmark = pytest.mark.anyio


async def decision_ids(record: Path, ticks: int, connector: InMemoryConnector | None = None) -> list[int]:
    clock = VirtualClock()
    records: list[TickRecord] = []
    run = planner(clock, CyclingPropose(), connector=connector or memory(clock), records=records,
                  decision_record_path=str(record))  # fmt: skip
    async with run, clock.autojump():
        await run.run(max_ticks=ticks)
    return [r.decision_id for r in records if r.decision_id is not None]


async def test_a_restarted_planner_continues_past_the_last_decision_id(tmp_path: Path) -> None:
    record = tmp_path / "decisions.jsonl"
    first = await decision_ids(record, 4)
    second = await decision_ids(record, 4)
    assert first == [1, 2, 3, 4]
    assert second == [5, 6, 7, 8]


async def test_the_id_is_saved_before_its_decision_is_applied(tmp_path: Path) -> None:
    record = tmp_path / "decisions.jsonl"
    store = DecisionIdStore(record)
    saved_at_apply: list[tuple[int, int]] = []

    class Watching(InMemoryConnector):
        async def apply(self, decision: Decision) -> list[str]:
            saved_at_apply.append((decision.decision_id, store.load()))
            return await super().apply(decision)

    clock = VirtualClock()
    await decision_ids(record, 3, Watching(clock, {Role.PREFILL: 1, Role.DECODE: 1}))
    assert saved_at_apply == [(1, 1), (2, 2), (3, 3)]


async def test_without_a_state_file_the_records_highest_id_counts(tmp_path: Path) -> None:
    record = tmp_path / "decisions.jsonl"
    record.write_text(json.dumps({"tick_id": 9, "decision_id": 41}) + "\n" + '{"tick_id": 10, "decis')  # cut short
    assert await decision_ids(record, 1) == [42]


async def test_a_corrupt_state_file_fails_start_up_naming_it(tmp_path: Path) -> None:
    record = tmp_path / "decisions.jsonl"
    (tmp_path / "decisions.jsonl.state.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"decisions\.jsonl\.state\.json.*delete it"):
        await decision_ids(record, 1)


def test_a_planner_killed_mid_run_comes_back_with_higher_ids(tmp_path: Path) -> None:
    """`planner run` on the embedded deployment, SIGKILLed while it decides, then started again."""
    record = tmp_path / "decisions.jsonl"
    command = [
        sys.executable,
        "-m",
        "planner",
        "run",
        "--speed",
        "200",
        "--duration",
        "100000",
        "--set",
        f"decision_record_path={record}",
    ]  # fmt: skip (past the trace's end: only the signal stops it)

    def ids() -> list[int]:
        if not record.exists():
            return []
        lines = [json.loads(line) for line in record.read_text().splitlines() if line.endswith("}")]
        return [r["decision_id"] for r in lines if r.get("decision_id") is not None]

    def run_until(count: int, kill: signal.Signals) -> None:
        daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while len(ids()) < count:  # another process's output: poll against a deadline
                assert daemon.poll() is None, "the planner exited early"
                assert time.monotonic() < deadline, f"fewer than {count} decisions within 60 s"
                time.sleep(0.05)
        finally:
            os.kill(daemon.pid, kill)
            daemon.wait(30)

    run_until(2, signal.SIGKILL)
    before = ids()
    run_until(len(before) + 2, signal.SIGTERM)
    after = ids()
    assert after == sorted(set(after)), after  # strictly increasing across the kill
    assert after[len(before)] > before[-1]
