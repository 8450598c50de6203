"""Worker discovery by label and scale-down victims by pod-deletion-cost, against the API stand-in.

No Kubernetes API server can run here; `kube_apiserver.KubeStandIn` lists pods by label selector and
patches their annotations as the real one does, and the real `kubernetes` client talks to it. The
engines' `/metrics` are real HTTP servers, each on its own loopback address standing in for a pod IP.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from helpers import Propose, set_targets
from http_harness import serve_handler
from kube_apiserver import Fault, KubeStandIn
from kube_fixtures import NS, TARGETS, WORKERS, deployment_standin, make_config, planner_ticks, pod, ready_at_once
from planner import Planner, TickRecord, VirtualClock
from planner.config import load_config
from planner.connectors.kubernetes import KubernetesConnector
from planner.errors import ConfigError
from planner_sdk import Decision, Role

COST = "controller.kubernetes.io/pod-deletion-cost"


def vllm_metrics(running: int, waiting: int) -> str:
    return (
        f'vllm:num_requests_running{{engine="0"}} {running}.0\n'
        f'vllm:num_requests_waiting{{engine="0"}} {waiting}.0\n'
        'vllm:kv_cache_usage_perc{engine="0"} 0.25\n'
    )


@contextlib.contextmanager
def engines(loads: dict[str, tuple[int, int]]) -> Iterator[int]:
    """A vLLM-style /metrics per loopback address (one per "pod"), all on one port; yields the port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            running, waiting = loads[self.connection.getsockname()[0]]
            data = vllm_metrics(running, waiting).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with socket.socket() as probe:
        probe.bind((next(iter(loads)), 0))
        port = int(probe.getsockname()[1])
    with contextlib.ExitStack() as stack:
        for address in loads:
            stack.enter_context(serve_handler(Handler, address, port))
        yield port


def prefill_pods_at(standin: KubeStandIn, *addresses: str) -> None:
    for index, address in enumerate(addresses):
        standin.edit("v1", "pods", NS, f"vllm-prefill-{index}", lambda o, a=address: o["status"].update(podIP=a))


def connector(path: Path, workers: dict[str, Any] = WORKERS) -> KubernetesConnector:
    return KubernetesConnector(make_config(path, kubernetes={"targets": TARGETS, "workers": workers}), VirtualClock())


def test_ready_pods_are_found_by_label_with_their_metrics_urls(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    standin.put("v1", "pods", NS, pod("vllm-decode-9", "vllm-decode", "10.0.1.9", ready=False))
    standin.put("v1", "pods", NS, pod("vllm-decode-8", "vllm-decode", "", phase="Pending"))
    standin.put("v1", "pods", NS, pod("other-0", "other", "10.0.9.1"))
    start(standin)
    c = connector(path)

    async def main() -> Any:
        await c.start()
        try:
            return await c.worker_endpoints()
        finally:
            await c.aclose()

    found = {(e.worker_id, e.role, e.url) for e in anyio.run(main)}
    assert found == {
        ("vllm-prefill-0", Role.PREFILL, "http://10.0.0.1:8000/metrics"),
        ("vllm-prefill-1", Role.PREFILL, "http://10.0.0.2:8000/metrics"),
        ("vllm-decode-0", Role.DECODE, "http://10.0.1.1:8000/metrics"),
        ("vllm-decode-1", Role.DECODE, "http://10.0.1.2:8000/metrics"),
        ("vllm-decode-2", Role.DECODE, "http://10.0.1.3:8000/metrics"),
    }


def _tick_with_engines(kube: Any, plugin: Any, *, controller: bool = False) -> tuple[KubeStandIn, TickRecord]:
    """One daemon tick with the prefill pods' /metrics served: pod 0 runs 7 and queues 2, pod 1 runs 1."""
    path, start = kube
    standin = deployment_standin()
    prefill_pods_at(standin, "127.0.0.2", "127.0.0.3")
    if controller:
        ready_at_once(standin)
    start(standin)

    def scraper_registered(p: Planner) -> None:
        assert "builtin_worker_metrics" in {entry.id for entry in p.registry}

    with engines({"127.0.0.2": (7, 2), "127.0.0.3": (1, 0)}) as port:
        workers = {"prefill": {"label_selector": "app=vllm-prefill", "metrics_port": port}}
        config = make_config(path, kubernetes={"targets": TARGETS, "workers": workers})
        (record,) = planner_ticks(config, plugin, VirtualClock(), 1, scraper_registered)
    return standin, record


def test_the_daemon_scrapes_the_pods_it_finds(kube: Any) -> None:
    _, record = _tick_with_engines(kube, Propose("hold", set_targets(2, 3)))
    assert record.observations is not None
    workers = {w.worker_id: w for w in record.observations.workers or ()}
    assert (workers["vllm-prefill-0"].running_requests, workers["vllm-prefill-0"].queued_prefill_requests) == (7, 2)
    assert workers["vllm-prefill-1"].running_requests == 1


def test_before_a_scale_down_each_pod_costs_its_requests_in_flight(kube: Any) -> None:
    standin, record = _tick_with_engines(kube, Propose("down", set_targets(1, 3)), controller=True)
    assert record.outcome == "applied", record.reason
    costs = {
        n: standin.get("v1", "pods", NS, n)["metadata"]["annotations"][COST]
        for n in ("vllm-prefill-0", "vllm-prefill-1")
    }
    assert costs == {"vllm-prefill-0": "9", "vllm-prefill-1": "1"}  # the idler engine goes first
    patches = standin.writes("PATCH")
    assert patches.index("/apis/apps/v1/namespaces/llm/deployments/vllm-prefill/scale") > patches.index(
        "/api/v1/namespaces/llm/pods/vllm-prefill-1"
    )  # marked before the scale-down


def test_a_scale_up_marks_no_pods(kube: Any) -> None:
    standin, record = _tick_with_engines(kube, Propose("up", set_targets(4, 3)))
    assert record.outcome == "applied", record.reason
    assert not [p for p in standin.writes("PATCH") if "/pods/" in p]


def test_when_pods_cannot_be_marked_the_scale_down_still_happens_and_says_so(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    standin.forbidden.add(("patch", "pods"))
    start(standin)
    c = connector(path)
    c.in_flight = lambda: {"vllm-prefill-0": 3.0}

    async def main() -> Any:
        await c.start()
        try:
            return await c.apply(Decision(1, {Role.PREFILL: 1, Role.DECODE: 3}))
        finally:
            await c.aclose()

    (note,) = anyio.run(main)
    assert "prefill: pod deletion costs not set" in note
    assert "HTTP 403" in note
    assert standin.get("apps/v1", "deployments", NS, "vllm-prefill")["spec"]["replicas"] == 1


def test_discovery_failing_costs_the_scraper_its_tick_not_the_planner(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    standin.faults.append(Fault("GET", "/pods", status=500, times=10))
    start(standin)
    workers = {"prefill": {"label_selector": "app=vllm-prefill", "metrics_port": 9}}
    config = make_config(path, kubernetes={"targets": TARGETS, "workers": workers})
    (record,) = planner_ticks(config, Propose("hold", set_targets(2, 3)), VirtualClock())
    (call,) = [c for c in record.calls if c.plugin_id == "builtin_worker_metrics"]
    assert call.status == "error"
    assert "HTTP 500" in (call.error or "")
    assert record.outcome == "no_change"


def test_listed_workers_and_discovered_workers_are_exclusive() -> None:
    with pytest.raises(ConfigError, match=r"worker_metrics and kubernetes\.workers are both set"):
        load_config(None, [
            "environment=kubernetes", "kubernetes.dgd_name=g", f"kubernetes.workers={WORKERS}",
            "worker_metrics=[{worker_id: a, role: decode, url: 'http://a:1/metrics'}]",
        ])  # fmt: skip


def test_deletion_costs_follow_in_flight_work() -> None:
    from planner.connectors.kubernetes._pods import deletion_cost

    assert [deletion_cost(v) for v in (None, float("nan"), 0.0, 2.6, 1e12)] == [0, 0, 0, 3, 2**31 - 1]
