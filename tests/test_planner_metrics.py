"""The planner's own /metrics: what each tick record turns into, and a real Prometheus scraping it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import Hang, Propose, memory, planner, set_targets
from planner import Planner, TickRecord, VirtualClock
from planner.config import load_config
from planner_plugins.perf import PerfModel
from planner_plugins.predict import EngineModelLearn
from planner_sdk import ProposeResult, Role
from prometheus_harness import PROMETHEUS, free_port, prometheus, query_until, require_prometheus


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def run_ticks(ticks: int, records: list[TickRecord]) -> bytes:
    clock = VirtualClock()

    async def main() -> bytes:
        p = planner(clock, Propose("fixed", set_targets(3, 2), interval=1800.0), connector=memory(clock, 1, 1),
                    records=records, scheduling={"scale_interval_seconds": 1800.0})  # fmt: skip
        async with p, clock.autojump():
            await p.run(max_ticks=ticks)
            return p.metrics.exposition()

    return anyio.run(main)


def test_ticks_count_by_outcome_and_replicas_by_state() -> None:
    found = samples(run_ticks(2, []))
    assert found[("planner_ticks_total", (("outcome", "applied"),))] == 1
    assert found[("planner_ticks_total", (("outcome", "no_change"),))] == 1
    assert found[("planner_replicas", (("role", "prefill"), ("state", "recommended")))] == 3
    assert found[("planner_replicas", (("role", "prefill"), ("state", "applied")))] == 3
    assert found[("planner_replicas", (("role", "decode"), ("state", "expected")))] == 2
    assert found[("planner_last_decision_id", ())] == 1
    assert found[("planner_is_leader", ())] == 1  # no election: it acts alone
    assert found[("planner_registered_plugins", (("source", "api"),))] == 1


def test_plugin_calls_are_counted_by_status_and_timed() -> None:
    found = samples(run_ticks(2, []))
    assert found[("planner_plugin_calls_total", (("plugin", "fixed"), ("stage", "propose"), ("status", "ok")))] == 2
    assert found[("planner_plugin_call_duration_seconds_count", (("plugin", "fixed"), ("stage", "propose")))] == 2


def test_gpu_hours_integrate_the_fleet_asked_for_between_ticks() -> None:
    found = samples(run_ticks(3, []))
    # 1+1 engines for the first half hour, then 3+2 for the second: 1 + 2.5 GPU-hours.
    assert abs(found[("planner_gpu_hours_total", ())] - 3.5) < 1e-6
    assert found[("planner_gpus", ())] == 5
    assert found[("planner_sla_target_ms", (("quantity", "ttft"),))] == 500


def test_prometheus_scrapes_the_running_daemon(tmp_path: Path) -> None:
    require_prometheus()
    assert PROMETHEUS is not None
    port = free_port()
    args = ["--speed", "100", "--set", f"metric_reporting_prometheus_port={port}", "--set", "health_host=127.0.0.1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "planner", "run", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip

    async def main() -> tuple[float, float]:
        with prometheus(tmp_path, port, scrape_interval="200ms") as url:
            async with httpx.AsyncClient(timeout=5.0) as client:
                ticks = await query_until(client, url, 'planner_ticks_total{outcome="applied"} > 0', 60.0)
                gpus = await query_until(client, url, "planner_gpus", 10.0)
        return ticks, gpus

    try:
        ticks, gpus = anyio.run(main)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert ticks >= 1
    assert gpus >= 2


def test_promql_over_the_planner_series_agrees_with_the_decision_record(tmp_path: Path) -> None:
    """The real Prometheus scrapes the running daemon; at one evaluation time, the last decision id,
    the applied replicas and the count of scaling moves are what the decision record says."""
    require_prometheus()
    port = free_port()
    record_path = tmp_path / "decisions.jsonl"
    args = ["--speed", "60", "--set", f"metric_reporting_prometheus_port={port}", "--set", "health_host=127.0.0.1",
            "--set", f"decision_record_path={record_path}"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "planner", "run", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip

    async def at(client: httpx.AsyncClient, url: str, promql: str, when: float) -> list[dict[str, Any]]:
        answer = (await client.get(f"{url}/api/v1/query", params={"query": promql, "time": when})).json()
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    async def main() -> tuple[int, dict[str, int], int]:
        with prometheus(tmp_path, port, scrape_interval="200ms") as url:
            async with httpx.AsyncClient(timeout=5.0) as client:
                await query_until(client, url, "planner_last_decision_id >= 2", 90.0)
                when = time.time()
                decision = int(float((await at(client, url, "planner_last_decision_id", when))[0]["value"][1]))
                applied = {s["metric"]["role"]: int(float(s["value"][1]))
                           for s in await at(client, url, 'planner_replicas{state="applied"}', when)}  # fmt: skip
                moves = await at(client, url, "sum(planner_scaling_decisions_total)", when)
        return decision, applied, int(float(moves[0]["value"][1]))

    try:
        decision, applied, moves = anyio.run(main)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    records = [json.loads(line) for line in record_path.read_text().splitlines()]
    decided = {r["decision_id"]: r for r in records if r["outcome"] == "applied"}
    assert decided[decision]["targets"] == applied
    expected_moves = sum(
        1 for r in decided.values() if r["decision_id"] <= decision
        for role, n in r["targets"].items() if n != r["replicas"][role]["expected"]
    )  # fmt: skip
    assert moves == expected_moves


def exposition_after(
    ticks: int, *plugins: object, **overrides: Any
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    clock = VirtualClock()

    async def main() -> bytes:
        p = planner(clock, *plugins, connector=memory(clock, 1, 1), scheduling={"scale_interval_seconds": 60.0},
                    **overrides)  # fmt: skip
        async with p, clock.autojump():
            await p.run(max_ticks=ticks)
            return p.metrics.exposition()

    return samples(anyio.run(main))


def crash(ctx: object) -> ProposeResult:
    raise RuntimeError("bug in the plugin")


def test_errors_are_counted_by_kind() -> None:
    found = exposition_after(
        2,
        Hang("stuck", interval=60.0, timeout_seconds=1.0),
        Propose("buggy", crash, interval=60.0),
        Propose("negative", ProposeResult.set({Role.DECODE: -2}), interval=60.0),
        Propose("fixed", set_targets(2, 2), interval=60.0),
    )
    kinds = {"stuck": "timeout", "buggy": "crashed", "negative": "nonsense"}
    for plugin, kind in kinds.items():
        assert found[("planner_plugin_errors_total", (("kind", kind), ("plugin", plugin), ("stage", "propose")))] == 2


def test_circuit_state_is_one_per_plugin() -> None:
    buggy, fixed = Propose("buggy", crash, interval=60.0), Propose("fixed", set_targets(2, 2), interval=60.0)
    found = exposition_after(4, buggy, fixed, plugin_registration={"circuit_breaker_failures": 3})
    assert found[("planner_plugin_circuit_state", (("plugin", "buggy"), ("state", "open")))] == 1
    assert found[("planner_plugin_circuit_state", (("plugin", "buggy"), ("state", "closed")))] == 0
    assert found[("planner_plugin_circuit_state", (("plugin", "fixed"), ("state", "closed")))] == 1


def test_estimates_from_the_proposal_and_moves_by_who_set_them() -> None:
    estimated = set_targets(3, 2).with_estimates(420.0, 18.5)
    found = exposition_after(1, Propose("fixed", estimated, interval=60.0))
    assert found[("planner_estimated_ttft_ms", ())] == 420.0
    assert found[("planner_estimated_itl_ms", ())] == 18.5
    up = ("planner_scaling_decisions_total", (("decided_by", "fixed"), ("direction", "up"), ("role", "prefill")))
    assert found[up] == 1


def test_a_budget_cut_is_named_as_the_decider() -> None:
    found = exposition_after(1, Propose("greedy", set_targets(20, 2), interval=60.0), max_gpu_budget=6)
    key = ("planner_scaling_decisions_total", (("decided_by", "safety:budget_capped"), ("direction", "up"),
                                               ("role", "prefill")))  # fmt: skip
    assert found[key] == 1


def test_under_a_learnt_engine_model_capacity_is_reported_from_what_was_learnt() -> None:
    """The gauge follows the model the throughput loop sizes with, as learnt so far."""
    clock = VirtualClock()

    async def main() -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], PerfModel]:
        config = load_config(None, ["optimization_target=sla", "engine_model=learnt"])
        p = Planner(config, clock=clock)
        async with p, clock.autojump():
            await p.run(max_ticks=48)  # four simulated minutes: the model is trusted within two
            [learn] = p.registry.in_process(EngineModelLearn)
            learnt = learn.learner.model()
            assert learnt is not None
            return samples(p.metrics.exposition()), learnt

    found, learnt = anyio.run(main)
    isl = found[("planner_predicted", (("quantity", "isl"),))]
    prefill = found[("planner_engine_capacity_requests_per_second", (("role", "prefill"),))]
    assert prefill == pytest.approx(learnt.prefill.engine_throughput(isl) / isl, rel=0.05)  # it learnt on since
    assert found[("planner_engine_capacity_requests_per_second", (("role", "decode"),))] > 0


def test_the_embedded_planner_reports_engine_capacity_and_tick_lag() -> None:
    """The demo's builtins on the simulated deployment: capacity from the bundled profile."""
    clock = VirtualClock()

    async def main() -> bytes:
        config = load_config(None, ["optimization_target=sla", "simulation.duration_seconds=600"])
        p = Planner(config, clock=clock)
        async with p, clock.autojump():
            await p.run(max_ticks=19)  # every 10 s (the surge check) to the first decision, a full 180 s window in
            return p.metrics.exposition()

    found = samples(anyio.run(main))
    assert found[("planner_engine_capacity_requests_per_second", (("role", "prefill"),))] > 0
    assert found[("planner_engine_capacity_requests_per_second", (("role", "decode"),))] > 0
    assert found[("planner_tick_start_lag_seconds_count", ())] == 19
    assert ("planner_estimated_itl_ms", ()) in found
