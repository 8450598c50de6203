"""High availability end to end: two `planner run` processes, one Kubernetes API stand-in.

No Kubernetes API server can run here; `kube_apiserver.KubeStandIn` serves the Lease and the
Deployments' `/scale` as the real one does, and each planner reaches it with the official client
through its own kubeconfig (its own bearer token, so the stand-in knows who wrote what).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube_apiserver import KubeStandIn, kubeconfig, serve
from kube_fixtures import NS, TARGETS, deployment_standin, ready_at_once

LEASE_S, RENEW_S, RETRY_S, TICK_S = 3.0, 2.0, 0.5, 0.5
TESTS = Path(__file__).parent


def wait_for(condition: Callable[[], Any], within: float, what: str) -> Any:
    """Poll another process's effects (files, the stand-in) until `condition()` is truthy."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


def records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # a killed writer may leave half a line


def start_planner(tmp: Path, url: str, identity: str) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp / f"kubeconfig-{identity}").write_text(kubeconfig(url, NS, token=f"token-{identity}"))
    record = tmp / f"{identity}.jsonl"
    config = {
        "environment": "kubernetes", "namespace": NS, "max_gpu_budget": -1,
        "decision_record_path": str(record),
        "kubernetes": {"kubeconfig": str(tmp / f"kubeconfig-{identity}"), "targets": TARGETS,
                       "request_timeout_seconds": 1.0},
        "ha": {"enabled": True, "identity": identity, "lease_duration_seconds": LEASE_S,
               "renew_deadline_seconds": RENEW_S, "retry_period_seconds": RETRY_S},
        "scheduling": {"scale_interval_seconds": TICK_S},
        "plugins": [{"factory": "helpers:CyclingPropose", "kwargs": {"interval_seconds": TICK_S}}],
        "disabled_plugins": ["builtin_load_predict", "builtin_throughput_propose"],
    }  # fmt: skip
    path = tmp / f"{identity}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "planner", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    return process, record


@pytest.fixture
def standin() -> Iterator[tuple[KubeStandIn, str]]:
    api = deployment_standin()
    ready_at_once(api)
    with serve(api) as url:
        yield api, url


def scale_writes_by(api: KubeStandIn, token: str) -> int:
    return sum(1 for who, method, path in api.requests_by if who == token and method == "PATCH" and "/scale" in path)


def applied(path: Path) -> list[tuple[float, int]]:
    return [(r["time"], r["decision_id"]) for r in records(path) if r["outcome"] == "applied"]


def test_one_leader_applies_the_other_takes_over_within_the_lease_and_ids_keep_growing(
    standin: tuple[KubeStandIn, str], tmp_path: Path
) -> None:
    api, url = standin
    a, a_record = start_planner(tmp_path, url, "a")
    processes = [a]
    try:
        wait_for(lambda: len(applied(a_record)) >= 2, 30, "planner a to lead and apply")
        b, b_record = start_planner(tmp_path, url, "b")
        processes.append(b)
        follower = wait_for(
            lambda: [r for r in records(b_record) if r["outcome"] == "advisory"], 30, "planner b to follow"
        )
        assert "follower: a holds lease" in follower[0]["reason"]
        assert scale_writes_by(api, "token-b") == 0

        a.send_signal(signal.SIGKILL)  # no chance to release the lease: b must wait for it to expire
        a.wait(10)
        killed = time.monotonic()
        wait_for(lambda: scale_writes_by(api, "token-b") > 0, 30, "planner b to take over")
        took_over = time.monotonic() - killed
        assert took_over <= LEASE_S + 2 * TICK_S + 1.5, f"took {took_over:.1f} s"
        wait_for(lambda: len(applied(b_record)) >= 2, 30, "planner b to apply")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(15)

    ids = [decision for _, decision in sorted(applied(a_record) + applied(b_record))]
    assert len(ids) == len(set(ids)), "a decision id was applied twice"
    assert ids == sorted(ids), "decision ids went backwards across leaders"
    assert min(i for _, i in applied(b_record)) > max(i for _, i in applied(a_record))
    lease = api.get("coordination.k8s.io/v1", "leases", NS, "planner-leader")
    assert lease["spec"]["holderIdentity"] == ""  # b released it on SIGTERM
    assert int(lease["metadata"]["annotations"]["planner.ai/last-decision-id"]) == max(ids)
