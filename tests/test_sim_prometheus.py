"""A real Prometheus server scrapes the simulated frontend's /metrics and answers PromQL on it.

Needs the `prometheus` binary (see `prometheus_harness`).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx

from planner.clock import ScaledClock
from planner.config import PlannerConfig
from planner.sim.metrics import FrontendMetrics, serve_frontend_metrics
from planner.sim.world import SimulatedDeployment
from planner_plugins.traces import synthetic_trace
from prometheus_harness import free_port, prometheus, query_until, require_prometheus

require_prometheus()


def test_prometheus_scrapes_the_simulated_frontend(tmp_path: Path) -> None:
    async def main() -> tuple[float, float, int]:
        clock = ScaledClock(60.0)  # a simulated minute per wall second: requests complete between scrapes
        trace = synthetic_trace("constant", 3600.0, 5.0, isl=1000, osl=50, seed=1)
        world = SimulatedDeployment(PlannerConfig(simulation={"initial_prefill": 2, "initial_decode": 2}), clock, trace)
        metrics = FrontendMetrics(world.cluster, model="sim")
        async with anyio.create_task_group() as group:
            port = await group.start(serve_frontend_metrics, metrics, clock, "127.0.0.1", free_port())
            with prometheus(tmp_path, port) as url:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    total = await query_until(client, url, 'dynamo_frontend_requests_total{model="sim"}', 60.0)
                    mean_isl = await query_until(
                        client,
                        url,
                        "dynamo_frontend_input_sequence_tokens_sum / dynamo_frontend_input_sequence_tokens_count",
                        30.0,
                    )
            group.cancel_scope.cancel()
        return total, mean_isl, world.cluster.finished

    total, mean_isl, finished = anyio.run(main)
    assert 0 < total <= finished
    assert 800 < mean_isl < 1200  # lognormal lengths around the trace's mean of 1000
