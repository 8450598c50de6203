"""builtin_prometheus_traffic against a real Prometheus scraping the simulated frontend.

Needs the `prometheus` binary (see `prometheus_harness`). The simulation runs on a scaled clock, so
the plugin queries the wall-time window that the simulated window took.
"""

from __future__ import annotations

import dataclasses

import anyio
import httpx
import pytest

from planner.clock import ScaledClock
from planner.config import PlannerConfig
from planner.sim.engines import SimRequest
from planner.sim.metrics import FrontendMetrics, serve_frontend_metrics
from planner.sim.world import SimulatedDeployment
from planner_plugins.observe import PrometheusSettings, PrometheusTraffic
from planner_plugins.traces import synthetic_trace
from planner_sdk import PlannerView, Role, TickContext, TrafficObservation
from prometheus_harness import free_port, prometheus, query_until, require_prometheus

require_prometheus()

SPEED = 10.0
WINDOW_S = 60.0
RECENT_S = 20.0  # two wall seconds: ten scrapes
CTX = TickContext(1, 1, 0.0, PlannerView("disagg", (Role.PREFILL, Role.DECODE), "sla", 500, 50, -1, {}, {}))


Observed = tuple[TrafficObservation, list[SimRequest], float]


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    """One observation of a window of simulated traffic through Prometheus, the requests that finished,
    and when it was made."""
    tmp_path = tmp_path_factory.mktemp("prometheus")
    finished: list[SimRequest] = []

    async def main() -> tuple[TrafficObservation, SimulatedDeployment, float]:
        clock = ScaledClock(SPEED)
        trace = synthetic_trace("constant", 3600.0, 5.0, isl=1000, osl=50, seed=3)
        world = SimulatedDeployment(PlannerConfig(simulation={"initial_prefill": 2, "initial_decode": 2}), clock, trace)
        metrics = FrontendMetrics(world.cluster, model="sim")
        world.cluster.on_complete.append(finished.append)
        settings = PrometheusSettings(
            endpoint="", window_s=WINDOW_S, model_name="SIM", wall_seconds_per_second=1 / SPEED, recent_s=RECENT_S
        )
        async with anyio.create_task_group() as group:
            port = await group.start(serve_frontend_metrics, metrics, clock, "127.0.0.1", free_port())
            with prometheus(tmp_path, port, scrape_interval="200ms") as url:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    await query_until(client, url, "dynamo_frontend_requests_total", 60.0)
                await anyio.sleep(WINDOW_S / SPEED + 2.0)  # a whole window of scrapes, and a little more
                plugin = PrometheusTraffic(dataclasses.replace(settings, endpoint=url), WINDOW_S)
                try:
                    traffic = (await plugin.observe(CTX)).traffic
                finally:
                    await plugin.aclose()
                now = clock.monotonic()
            group.cancel_scope.cancel()
        assert traffic is not None
        return traffic, world, now

    traffic, _, now = anyio.run(main)
    return traffic, finished, now


def test_observed_rate_and_means_match_the_simulation_within_5_percent(observed: Observed) -> None:
    traffic, finished, now = observed
    done = [r for r in finished if now - WINDOW_S < r.finish <= now]
    assert len(done) > 200
    assert traffic.num_requests == pytest.approx(len(done), rel=0.05)
    assert traffic.mean_isl == pytest.approx(sum(r.isl for r in done) / len(done), rel=0.05)
    assert traffic.mean_osl == pytest.approx(sum(r.osl for r in done) / len(done), rel=0.05)
    assert traffic.mean_ttft_ms == pytest.approx(1000 * sum(r.ttft_s for r in done) / len(done), rel=0.05)


def test_the_windows_last_seconds_are_counted_apart_for_the_surge_check(observed: Observed) -> None:
    traffic, finished, now = observed
    recent = [r for r in finished if now - RECENT_S < r.finish <= now]
    assert traffic.recent_window_seconds == RECENT_S
    # About 100 requests over two wall seconds of scrapes: Prometheus extrapolates to the range's edges.
    assert traffic.recent_num_requests == pytest.approx(len(recent), rel=0.2)
