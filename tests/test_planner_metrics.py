"""The planner's own /metrics: what each tick record turns into, and a real Prometheus scraping it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families

from helpers import Propose, memory, planner, set_targets
from planner import TickRecord, VirtualClock
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
