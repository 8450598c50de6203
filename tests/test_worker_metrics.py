"""The worker-metrics observe plugin against a real HTTP server serving vLLM and SGLang metrics text."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner_plugins.observe import WorkerEndpoint, WorkerMetricsObserve, parse_worker_metrics
from planner_sdk import PlannerView, Role, TickContext

METRICS = Path(__file__).parent / "data" / "metrics"
P, D = Role.PREFILL, Role.DECODE


def test_vllm_text_becomes_a_decode_load() -> None:
    load, _ = parse_worker_metrics((METRICS / "vllm_decode.txt").read_text(), "d0", D)
    assert load.running_requests == 42
    assert load.max_kv_tokens == 160_000  # 10,000 blocks of 16 tokens
    assert load.scheduled_kv_tokens == 80_000  # half of it in use
    assert load.queued_kv_tokens == 3 * (3000 + 150)  # waiting requests at the mean prompt + output
    assert load.recent_itl_ms == pytest.approx(20.0)
    assert load.forward_pass_ms == pytest.approx(20.0)
    assert load.recent_ttft_ms == pytest.approx(250.0)


def test_sglang_text_becomes_a_prefill_load() -> None:
    load, _ = parse_worker_metrics((METRICS / "sglang_prefill.txt").read_text(), "p0", P)
    assert load.queued_prefill_requests == 4
    assert load.queued_prefill_tokens == 4 * 2000  # from the prompt-token and request counters
    assert load.scheduled_kv_tokens == 12_000
    assert load.max_kv_tokens == 120_000
    assert load.recent_ttft_ms == pytest.approx(400.0)


def test_recent_latency_is_the_mean_since_the_previous_scrape() -> None:
    text = (METRICS / "vllm_decode.txt").read_text()
    _, first = parse_worker_metrics(text, "d0", D)
    later = text.replace('_count{engine="0",model_name="m"} 1000.0', '_count{engine="0",model_name="m"} 1100.0')
    later = later.replace('_sum{engine="0",model_name="m"} 20.0', '_sum{engine="0",model_name="m"} 23.0')
    load, _ = parse_worker_metrics(later, "d0", D, first)
    assert load.recent_itl_ms == pytest.approx(30.0)  # 3 s over 100 tokens


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("<html>not metrics</html>", "invalid metric name"),
        ("# HELP foo bar\n# TYPE foo gauge\nfoo 1\n", "no vLLM or SGLang load metrics"),
    ],
)
def test_text_that_is_not_engine_metrics_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_worker_metrics(text, "w", D)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/hang":
            time.sleep(3)
        bodies = {
            "/vllm": (METRICS / "vllm_decode.txt").read_bytes(),
            "/sglang": (METRICS / "sglang_prefill.txt").read_bytes(),
            "/garbage": b"\x00\x01 this is not prometheus text {{{",
        }
        body = bodies.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            with contextlib.suppress(BrokenPipeError):
                self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def context() -> TickContext:
    return TickContext(1, 1, 0.0, PlannerView("disagg", (P, D), "throughput", 500, 50, -1, {}, {}))


@pytest.mark.anyio
@pytest.mark.e2e
async def test_every_worker_is_scraped_and_a_bad_one_is_reported_missing_not_idle(server: str) -> None:
    endpoints = [
        WorkerEndpoint("d0", D, f"{server}/vllm"),
        WorkerEndpoint("p0", P, f"{server}/sglang"),
        WorkerEndpoint("slow", D, f"{server}/hang"),
        WorkerEndpoint("junk", D, f"{server}/garbage"),
        WorkerEndpoint("gone", P, f"{server}/nothing-here"),
    ]
    plugin = WorkerMetricsObserve(endpoints, interval_s=5, scrape_timeout_s=0.5)
    started = time.perf_counter()
    try:
        observations = await plugin.observe(context())
    finally:
        await plugin.aclose()
    assert time.perf_counter() - started < 2.0  # the hung worker is cut at the scrape timeout
    workers = {w.worker_id: w for w in observations.workers or ()}
    assert workers["d0"].running_requests == 42
    assert workers["p0"].queued_prefill_tokens == 8000
    for name in ("slow", "junk", "gone"):
        assert workers[name].missing
        assert workers[name].running_requests is None
    assert set(plugin.last_errors) == {"slow", "junk", "gone"}
