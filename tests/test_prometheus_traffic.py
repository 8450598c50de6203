"""builtin_prometheus_traffic against a stand-in of Prometheus' HTTP query API on loopback.

The stand-in answers `/api/v1/query` from a table of PromQL -> JSON so each failure mode (no
series, NaN, garbage, errors, slowness, refusal) can be produced on demand; the same plugin is
checked against a real Prometheus in `test_prometheus_e2e.py`.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from http_harness import serve_handler
from planner_plugins.observe import PrometheusQueryError, PrometheusSettings, PrometheusTraffic, traffic_queries
from planner_sdk import PlannerView, Role, TickContext


def vector(value: float | str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, str(value)]}]}}


EMPTY = {"status": "success", "data": {"resultType": "vector", "result": []}}


@dataclass
class FakePrometheus:
    """Answers by the query's metric name; records what it was asked."""

    answers: dict[str, Any] = field(default_factory=dict)  # metric name fragment -> JSON (or raw bytes)
    delay_s: float = 0.0
    status: int = 200
    seen: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def answer(self, query: str) -> Any:
        for fragment, answer in self.answers.items():
            if fragment in query:
                return answer
        return EMPTY


@contextlib.contextmanager
def serve(fake: FakePrometheus) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlparse(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            fake.seen.append(params)
            fake.headers.append(dict(self.headers))
            if fake.delay_s:
                time.sleep(fake.delay_s)
            answer = fake.answer(params.get("query", ""))
            body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serve_handler(Handler) as url:
        yield url


CTX = TickContext(1, 1, 0.0, PlannerView("disagg", (Role.PREFILL, Role.DECODE), "sla", 500, 50, -1, {}, {}))

HEALTHY = {
    "requests_started_total": vector(120),
    "time_to_first_token_seconds": vector(0.25),
    "inter_token_latency_seconds": vector(0.02),
    "input_sequence_tokens": vector(3000),
    "output_sequence_tokens": vector(150),
}


def observe(endpoint: str, **settings: Any) -> Any:
    async def main() -> Any:
        plugin = PrometheusTraffic(PrometheusSettings(endpoint=endpoint, window_s=60.0, **settings), 60.0)
        try:
            return (await plugin.observe(CTX)).traffic
        finally:
            await plugin.aclose()

    return anyio.run(main)


def test_traffic_is_read_as_dynamo_reads_it() -> None:
    with serve(FakePrometheus(dict(HEALTHY))) as url:
        traffic = observe(url)
    assert traffic.window_seconds == 60.0
    assert traffic.num_requests == 120
    assert traffic.mean_ttft_ms == pytest.approx(250.0)
    assert traffic.mean_itl_ms == pytest.approx(20.0)
    assert (traffic.mean_isl, traffic.mean_osl) == (3000, 150)


def test_means_are_increases_of_sum_over_increases_of_count_in_the_window() -> None:
    queries = traffic_queries(PrometheusSettings(endpoint="http://p", window_s=180.0))
    assert queries["mean_isl"] == [
        "sum(increase(dynamo_frontend_input_sequence_tokens_sum[180000ms])) / "
        "sum(increase(dynamo_frontend_input_sequence_tokens_count[180000ms]))"
    ]


def test_request_count_falls_back_to_completed_requests() -> None:
    answers = {k: v for k, v in HEALTHY.items() if k != "requests_started_total"}
    answers["requests_total"] = vector(90)
    with serve(FakePrometheus(answers)) as url:
        assert observe(url).num_requests == 90


def test_a_missing_series_is_unknown_not_zero() -> None:
    with serve(FakePrometheus({"input_sequence_tokens": vector(3000)})) as url:
        traffic = observe(url)
    assert traffic.num_requests is None
    assert traffic.mean_ttft_ms is None
    assert traffic.mean_isl == 3000


def test_an_idle_window_has_zero_requests_and_unknown_means() -> None:
    answers = {"requests_started_total": vector(0), "input_sequence_tokens": vector("NaN")}
    with serve(FakePrometheus(answers)) as url:
        traffic = observe(url)
    assert traffic.num_requests == 0
    assert traffic.mean_isl is None


@pytest.mark.parametrize(
    ("answer", "status", "complaint"),
    [
        (b"<html>gateway</html>", 502, "HTTP 502 with no JSON"),
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, 400, "parse error"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, 200, "unexpected result type"),
        ({"status": "success", "data": {"resultType": "vector", "result": [{"value": "x"}]}}, 200, "unreadable"),
        ({"status": "success"}, 401, "refused the query: HTTP 401"),
    ],
)
def test_garbage_fails_the_observation_with_the_reason(answer: Any, status: int, complaint: str) -> None:
    fake = FakePrometheus({"requests_started_total": answer}, status=status)
    with serve(fake) as url, pytest.raises(PrometheusQueryError, match=complaint):
        observe(url)


def test_prometheus_down_fails_the_observation_with_the_reason() -> None:
    with serve(FakePrometheus()) as url:
        pass  # closed again: nothing listens there now
    with pytest.raises(PrometheusQueryError, match="unreachable"):
        observe(url)


def test_slow_prometheus_fails_the_observation_within_the_timeout() -> None:
    with serve(FakePrometheus(dict(HEALTHY), delay_s=1.0)) as url:
        started = time.monotonic()
        with pytest.raises(PrometheusQueryError, match=r"did not answer within 0.3 s"):
            observe(url, timeout_s=0.3)
        assert time.monotonic() - started < 1.5


def test_model_and_namespace_filter_the_series() -> None:
    fake = FakePrometheus(dict(HEALTHY))
    with serve(fake) as url:
        observe(url, model_name="Qwen/Qwen3-32B", dynamo_namespace="llm-prod")
    query = next(p["query"] for p in fake.seen if "requests_started_total" in p["query"])
    assert 'dynamo_namespace="llm-prod"' in query
    assert 'model=~"(?i)Qwen/Qwen3\\\\-32B"' in query


def test_router_source_reads_router_series_with_underscored_namespace() -> None:
    queries = traffic_queries(
        PrometheusSettings(endpoint="http://p", window_s=60.0, source="router", dynamo_namespace="pool-a")
    )
    assert queries["num_requests"][0] == (
        'sum(increase(dynamo_component_router_requests_started_total{dynamo_namespace="pool_a"}[60000ms]))'
    )


def test_token_file_is_sent_and_reread_and_extra_parameters_ride_along(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    fake = FakePrometheus(dict(HEALTHY))
    with serve(fake) as url:
        observe(url, bearer_token_file=str(token), extra_query_params={"dedup": "true"})
        token.write_text("rotated\n")
        observe(url, bearer_token_file=str(token))
    authorizations = {h.get("Authorization") for h in fake.headers}
    assert authorizations == {"Bearer first", "Bearer rotated"}
    assert fake.seen[0]["dedup"] == "true"


def test_a_scaled_clock_queries_the_wall_time_window() -> None:
    queries = traffic_queries(PrometheusSettings(endpoint="http://p", window_s=60.0, wall_seconds_per_second=0.1))
    assert "[6000ms]" in queries["num_requests"][0]


def test_prometheus_down_costs_the_tick_its_traffic_and_the_record_says_why() -> None:
    from planner import InMemoryConnector, Planner, PlannerConfig, TickRecord, WallClock
    from planner_plugins.perf import BUNDLED_PROFILE_DIR

    with serve(FakePrometheus()) as url:
        pass  # nothing listens there now
    records: list[TickRecord] = []

    async def main() -> InMemoryConnector:
        clock = WallClock()
        config = PlannerConfig(
            environment="virtual",
            optimization_target="sla",
            profile_results_dir=str(BUNDLED_PROFILE_DIR),
            metric_pulling_prometheus_endpoint=url,
        )
        connector = InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1})
        async with Planner(config, clock=clock, connector=connector, on_record=records.append) as planner:
            await planner.run(max_ticks=1)
        return connector

    connector = anyio.run(main)
    (record,) = records
    (call,) = [c for c in record.calls if c.plugin_id == "builtin_prometheus_traffic"]
    assert call.status == "error"
    assert call.error is not None
    assert "unreachable" in call.error
    assert record.observations is not None
    assert record.observations.traffic is None
    assert record.outcome == "skipped_no_targets"
    assert connector.applied == []


def test_the_spread_of_lengths_is_fitted_to_the_histogram_buckets() -> None:
    import math
    import random

    from planner_plugins.observe._spread import lognormal_cv

    bounds = [16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, math.inf]
    rng = random.Random(1)
    for mean, cv in ((3000.0, 0.5), (12000.0, 1.3)):
        sigma = math.sqrt(math.log1p(cv * cv))
        lengths = [rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma) for _ in range(5000)]
        buckets = [(float(le), float(sum(1 for x in lengths if x <= le))) for le in bounds]
        assert lognormal_cv(sum(lengths) / len(lengths), buckets) == pytest.approx(cv, abs=0.05)


def test_no_histogram_means_no_spread() -> None:
    from planner_plugins.observe._spread import lognormal_cv

    assert lognormal_cv(3000.0, []) is None
    assert lognormal_cv(None, [(1024.0, 5.0), (float("inf"), 10.0)]) is None
