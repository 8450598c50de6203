"""The simulated frontend's /metrics: Dynamo's metric names, real HTTP, the Prometheus text format."""

from __future__ import annotations

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families

from helpers import finished_requests
from planner.clock import VirtualClock
from planner.config import PlannerConfig
from planner.sim.engines import SimRequest
from planner.sim.metrics import FrontendMetrics, serve_frontend_metrics
from planner.sim.world import SimulatedDeployment
from planner_plugins.traces import synthetic_trace


def scrape_after(seconds: float) -> tuple[dict[str, float], SimulatedDeployment, int, list[SimRequest]]:
    """Run the simulated deployment for `seconds` of virtual time, then GET /metrics over loopback."""
    config = PlannerConfig(simulation={"initial_prefill": 1, "initial_decode": 1})
    samples: dict[str, float] = {}
    finished: list[SimRequest] = []

    async def main() -> tuple[SimulatedDeployment, int]:
        nonlocal finished
        clock = VirtualClock(start=0.0)
        trace = synthetic_trace("constant", 120.0, 2.0, isl=1000, osl=50, seed=1)
        world = SimulatedDeployment(config, clock, trace)
        metrics = FrontendMetrics(world.cluster, model="m")
        finished = finished_requests(world.cluster)
        async with anyio.create_task_group() as group:
            port = await group.start(serve_frontend_metrics, metrics, clock, "127.0.0.1", 0)
            async with clock.autojump():
                await clock.sleep_until(seconds)
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"http://127.0.0.1:{port}/metrics")
                missing = await client.get(f"http://127.0.0.1:{port}/other")
            group.cancel_scope.cancel()
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                if sample.labels.get("le") in (None, "+Inf"):
                    samples[sample.name + ("_inf" if "le" in sample.labels else "")] = sample.value
        return world, missing.status_code

    world, missing = anyio.run(main)
    return samples, world, missing, finished


def test_counts_every_completed_request_under_dynamos_names() -> None:
    samples, world, _, _ = scrape_after(60.0)
    finished = world.cluster.finished
    assert finished > 50
    assert samples["dynamo_frontend_requests_total"] == finished
    for histogram in ("time_to_first_token_seconds", "request_duration_seconds", "input_sequence_tokens"):
        assert samples[f"dynamo_frontend_{histogram}_count"] == finished
        assert samples[f"dynamo_frontend_{histogram}_bucket_inf"] == finished


def test_histogram_sums_are_the_requests_own_values() -> None:
    samples, world, _, done = scrape_after(60.0)
    assert len(done) == world.cluster.finished
    assert samples["dynamo_frontend_input_sequence_tokens_sum"] == sum(r.isl for r in done)
    ttft_sum = samples["dynamo_frontend_time_to_first_token_seconds_sum"]
    assert abs(ttft_sum - sum(r.ttft_s for r in done)) < 1e-6


def test_a_scrape_brings_the_simulation_up_to_the_clock() -> None:
    _, world, _, _ = scrape_after(45.0)
    assert world.cluster.now == 45.0


def test_inflight_gauge_is_arrived_minus_finished() -> None:
    samples, world, _, _ = scrape_after(30.0)
    assert samples["dynamo_frontend_inflight_requests"] == world.cluster.arrived - world.cluster.finished


def test_other_paths_are_not_found() -> None:
    _, _, missing, _ = scrape_after(1.0)
    assert missing == 404
