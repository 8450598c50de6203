"""A real Prometheus server scrapes the simulated frontend's /metrics and answers PromQL on it.

Needs the `prometheus` binary (Debian package `prometheus`; `.ci/run` installs it and sets
PLANNER_REQUIRE_PROMETHEUS=1 so that CI fails rather than skips when it is missing).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest

from planner.clock import ScaledClock
from planner.config import PlannerConfig
from planner.sim.metrics import FrontendMetrics, serve_frontend_metrics
from planner.sim.world import SimulatedDeployment
from planner_plugins.traces import synthetic_trace

PROMETHEUS = shutil.which("prometheus")
if PROMETHEUS is None and os.environ.get("PLANNER_REQUIRE_PROMETHEUS") != "1":
    pytest.skip("the prometheus binary is not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_prometheus(tmp_path: Path, target_port: int) -> tuple[subprocess.Popen[bytes], int]:
    assert PROMETHEUS is not None, "PLANNER_REQUIRE_PROMETHEUS=1 but prometheus is not on PATH"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: frontend\n    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    return process, port


async def query_until(client: httpx.AsyncClient, url: str, promql: str, deadline_s: float) -> float:
    """Poll an instant query until it returns a sample (Prometheus needs a scrape or two)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            answer = (await client.get(url, params={"query": promql})).json()
            if answer.get("status") == "success" and answer["data"]["result"]:
                return float(answer["data"]["result"][0]["value"][1])
        except httpx.TransportError:
            pass  # not listening yet
        if time.monotonic() > end:
            raise AssertionError(f"no answer to {promql!r} within {deadline_s} s")
        await anyio.sleep(0.25)


def test_prometheus_scrapes_the_simulated_frontend(tmp_path: Path) -> None:
    async def main() -> tuple[float, float, int]:
        clock = ScaledClock(60.0)  # a simulated minute per wall second: requests complete between scrapes
        trace = synthetic_trace("constant", 3600.0, 5.0, isl=1000, osl=50, seed=1)
        world = SimulatedDeployment(PlannerConfig(simulation={"initial_prefill": 2, "initial_decode": 2}), clock, trace)
        metrics = FrontendMetrics(world.cluster, model="sim")
        async with anyio.create_task_group() as group:
            port = await group.start(serve_frontend_metrics, metrics, clock, "127.0.0.1", free_port())
            process, prom_port = start_prometheus(tmp_path, port)
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    url = f"http://127.0.0.1:{prom_port}/api/v1/query"
                    total = await query_until(client, url, 'dynamo_frontend_requests_total{model="sim"}', 60.0)
                    mean_isl = await query_until(
                        client,
                        url,
                        "dynamo_frontend_input_sequence_tokens_sum / dynamo_frontend_input_sequence_tokens_count",
                        30.0,
                    )
            finally:
                process.terminate()
                process.wait(timeout=30)
            group.cancel_scope.cancel()
        return total, mean_isl, world.cluster.finished

    total, mean_isl, finished = anyio.run(main)
    assert 0 < total <= finished
    assert 800 < mean_isl < 1200  # lognormal lengths around the trace's mean of 1000
