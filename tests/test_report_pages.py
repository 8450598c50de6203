"""The replay report and the live dashboard, opened in a real headless Chromium.

Checks what a reader sees: Plotly drew every chart (its SVG is in the page), the traces are named
per role, the page logged no errors, and the dashboard moves on after a tick. Each test saves a
screenshot to the artefacts directory (see browser_harness).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_harness import page, require_chromium, screenshot

from planner import PlannerConfig
from planner.observability.charts import FIGURE_IDS
from planner.sim.replay import replay_configs
from planner.sim.report import write_html
from planner_plugins.traces import synthetic_trace
from prometheus_harness import free_port

require_chromium()
pytestmark = pytest.mark.e2e


def trace_names(tab: object, chart: str) -> list[str]:
    return tab.evaluate(f"document.getElementById('chart-{chart}').data.map(t => t.name)")  # type: ignore[attr-defined]


def drawn_charts(tab: object) -> list[str]:
    """Charts Plotly has rendered: their container holds Plotly's main SVG."""
    return tab.evaluate(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('.chart')].filter(d => d.querySelector('svg.main-svg')).map(d => d.id)"
    )


@pytest.fixture(scope="module")
def replay_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two configs over a step in load (so both decide), as `planner replay --report` writes it."""
    trace = synthetic_trace("step", 1200, 2.0, amplitude=6.0, isl=3000, osl=150, seed=4)
    common = {"optimization_target": "sla", "throughput_adjustment_interval_seconds": 30, "max_gpu_budget": -1,
              "simulation": {"startup_delay_seconds": 60}}  # fmt: skip
    configs = [("default", PlannerConfig(**common)),
               ("dynamo_style", PlannerConfig(**common, throughput_sizing="dynamo"))]  # fmt: skip
    results, oracle = replay_configs(trace, configs)
    report = tmp_path_factory.mktemp("report") / "report.html"
    write_html(report, trace.name, results, oracle, configs[0][1].ttft_ms, configs[0][1].itl_ms)
    return report


def test_the_replay_report_draws_every_chart_offline_without_errors(replay_report: Path) -> None:
    with page() as (tab, errors):
        tab.route(
            "**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_()
        )
        tab.goto(replay_report.as_uri())
        tab.wait_for_function("document.querySelectorAll('.chart svg.main-svg').length >= 7")
        assert sorted(drawn_charts(tab)) == sorted(f"chart-{name}" for name in FIGURE_IDS)
        screenshot(tab, "replay-report")
        assert errors == []


def test_the_replay_report_compares_configs_per_role_against_the_oracle(replay_report: Path) -> None:
    with page() as (tab, _):
        tab.goto(replay_report.as_uri())
        tab.wait_for_function("document.getElementById('chart-replicas').data !== undefined")
        names = trace_names(tab, "replicas")
        for config in ("default", "dynamo_style"):
            for role in ("prefill", "decode"):
                assert f"{config}: {role} expected" in names
                assert f"{config}: {role} ready" in names
        assert {"prefill oracle", "decode oracle"} <= set(names)
        assert "TTFT target 500 ms" in trace_names(tab, "ttft")
        assert "default: predicted requests/s" in trace_names(tab, "rate")
        rows = tab.locator("#results tr").count()
        assert rows == 3  # the header and one row per config
        assert tab.locator("#decision-table tr").count() > 1


def wait_for(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


def test_the_live_dashboard_updates_after_a_tick(tmp_path: Path) -> None:
    port = free_port()
    args = ["run", "--speed", "30", "--set", f"live_dashboard_port={port}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "planner", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=tmp_path,
    )  # fmt: skip
    try:
        with page() as (tab, errors):
            url = f"http://127.0.0.1:{port}/"

            def loaded() -> bool:
                try:
                    tab.goto(url)
                    return True
                except Exception:
                    return False

            wait_for(loaded, 30.0, "the dashboard to answer")
            tab.wait_for_function("document.body.dataset.tick > 0", timeout=30_000)
            first = int(tab.evaluate("document.body.dataset.tick"))
            tab.wait_for_function(f"document.body.dataset.tick > {first}", timeout=30_000)
            assert sorted(drawn_charts(tab)) == sorted(f"chart-{name}" for name in FIGURE_IDS)
            assert {"prefill expected", "decode expected"} <= set(trace_names(tab, "replicas"))
            plugins = tab.locator("#plugins").inner_text()
            assert "builtin_throughput_propose" in plugins
            assert "closed" in plugins  # circuits
            assert tab.locator("#health").inner_text() == "ready"
            screenshot(tab, "live-dashboard")
            assert errors == []
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
