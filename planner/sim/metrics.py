"""The simulated frontend's /metrics: Dynamo's frontend metric names in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.abc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..clock import Clock
from ..http_server import prometheus_route, serve_routes
from .cluster import SimCluster
from .engines import SimRequest

__all__ = ["FrontendMetrics", "serve_frontend_metrics"]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TOKENS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144)


class FrontendMetrics:
    """What Dynamo's frontend exports, fed by the simulated cluster as its requests complete.

    Histograms and the request counter are observed when a request completes (its TTFT too),
    so a scrape sees whole requests only; ITL is one observation per request, its mean gap
    (a streaming frontend records every gap: the mean over requests is what the planner reads
    either way). The gauges are read at scrape time. Times are
    simulated seconds: under `planner run --speed N`, Prometheus' rate() reads N times high.
    """

    def __init__(self, cluster: SimCluster, model: str = "simulated") -> None:
        self.cluster = cluster
        self.registry = CollectorRegistry()

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(f"dynamo_frontend_{name}", doc, ["model"], buckets=buckets, registry=self.registry).labels(
                model
            )

        def gauge(name: str, doc: str, read: Callable[[], float]) -> None:
            Gauge(f"dynamo_frontend_{name}", doc, ["model"], registry=self.registry).labels(model).set_function(read)

        # Label children bound once: a completion then costs no label lookups.
        self.requests = Counter(
            "dynamo_frontend_requests", "Total requests observed by the frontend", ["model"], registry=self.registry
        ).labels(model)
        self.ttft = histogram("time_to_first_token_seconds", "Frontend time to first token (TTFT)", _SECONDS)
        self.itl = histogram("inter_token_latency_seconds", "Frontend inter-token latency (ITL)", _SECONDS)
        self.duration = histogram("request_duration_seconds", "Frontend end-to-end request latency", _SECONDS)
        self.isl = histogram("input_sequence_tokens", "Input sequence length in tokens", _TOKENS)
        self.osl = histogram("output_sequence_tokens", "Output sequence length in tokens", _TOKENS)
        gauge("inflight_requests", "Inflight requests", lambda: cluster.arrived - cluster.finished)
        gauge("queued_requests", "Requests awaiting their first token", cluster.awaiting_first_token)
        cluster.on_complete.append(self.observe)

    def observe(self, request: SimRequest) -> None:
        self.requests.inc()
        self.ttft.observe(request.ttft_s)
        self.duration.observe(request.finish - request.arrival)
        self.isl.observe(request.isl)
        self.osl.observe(request.osl)
        if request.osl > 1:
            self.itl.observe(request.itl_s)

    def exposition(self, clock: Clock) -> bytes:
        """The text a scrape gets, with the cluster first brought up to the clock's time."""
        self.cluster.advance_to(clock.monotonic())
        return generate_latest(self.registry)


async def serve_frontend_metrics(
    metrics: FrontendMetrics,
    clock: Clock,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve GET /metrics over HTTP/1.1 on the event loop (so scrapes never race the simulation).

    Reports the bound port through `task_status`.
    """
    route = prometheus_route(lambda: metrics.exposition(clock))
    await serve_routes({"/metrics": route}, host, port, task_status=task_status)
