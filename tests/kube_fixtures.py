"""Kubernetes objects, stand-ins and configs shared by the connector, leader-election and e2e tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from kube_apiserver import KubeStandIn, kubeconfig, serve
from planner import Clock, Planner, PlannerConfig, TickRecord
from planner_sdk import Plugin, Role

NS = "llm"
P, D = Role.PREFILL, Role.DECODE
DGD_V = "nvidia.com/v1beta1"


def dgd(name: str = "graph", prefill: int = 2, decode: int = 1, **service_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": DGD_V, "kind": "DynamoGraphDeployment", "metadata": {"name": name},
        "spec": {"services": {
            "Frontend": {"componentType": "frontend", "replicas": 1},
            "pf": {"componentType": "worker", "subComponentType": "prefill", "replicas": prefill,
                   "resources": {"limits": {"gpu": "2"}}, **service_extra},
            "dec": {"componentType": "worker", "subComponentType": "decode", "replicas": decode},
        }},
        "status": {"services": {"pf": {"readyReplicas": prefill, "availableReplicas": prefill},
                                "dec": {"readyReplicas": decode}}},
    }  # fmt: skip


def adapter(name: str, replicas: int) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"replicas": replicas}, "status": {"replicas": replicas}}


def deployment(name: str, replicas: int, ready: int | None = None, gpus: int = 1) -> dict[str, Any]:
    container = {"name": "engine", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas if ready is None else ready},
    }  # fmt: skip


def dynamo_standin(version: str = "v1beta1", adapters: bool = True) -> KubeStandIn:
    standin = KubeStandIn()
    gv = f"nvidia.com/{version}"
    standin.add_kind(gv, "DynamoGraphDeployment", "dynamographdeployments", scalable=False)
    standin.add_kind(gv, "DynamoGraphDeploymentScalingAdapter", "dynamographdeploymentscalingadapters")
    graph = dgd()
    graph["apiVersion"] = gv
    standin.put(gv, "dynamographdeployments", NS, graph)
    if adapters:
        standin.put(gv, "dynamographdeploymentscalingadapters", NS, adapter("graph-pf", 2))
        standin.put(gv, "dynamographdeploymentscalingadapters", NS, adapter("graph-dec", 1))
    return standin


def pod(name: str, app: str, ip: str, ready: bool = True, phase: str = "Running") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "engine", "image": "vllm/vllm-openai"}]},
        "status": {"phase": phase, "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


def deployment_standin() -> KubeStandIn:
    """Deployments vllm-prefill (2 pods, 4 GPUs each) and vllm-decode (3 pods), pods labelled `app`."""
    standin = KubeStandIn()
    standin.add_kind("apps/v1", "Deployment", "deployments")
    standin.add_kind("apps/v1", "ControllerRevision", "controllerrevisions", scalable=False)
    standin.put("apps/v1", "deployments", NS, deployment("vllm-prefill", 2, gpus=4))
    standin.put("apps/v1", "deployments", NS, deployment("vllm-decode", 3))
    for index in range(2):
        standin.put("v1", "pods", NS, pod(f"vllm-prefill-{index}", "vllm-prefill", f"10.0.0.{index + 1}"))
    for index in range(3):
        standin.put("v1", "pods", NS, pod(f"vllm-decode-{index}", "vllm-decode", f"10.0.1.{index + 1}"))
    return standin


WORKERS = {
    "prefill": {"label_selector": "app=vllm-prefill", "metrics_port": 8000},
    "decode": {"label_selector": "app=vllm-decode", "metrics_port": 8000},
}


TARGETS = {
    "prefill": {"api_version": "apps/v1", "kind": "Deployment", "name": "vllm-prefill"},
    "decode": {"api_version": "apps/v1", "kind": "Deployment", "name": "vllm-decode"},
}


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """Yields (kubeconfig path, serve) so a test picks its stand-in, then points the client at it."""
    path = tmp_path / "kubeconfig"

    def start(standin: KubeStandIn) -> Any:
        context = serve(standin)
        url = context.__enter__()
        path.write_text(kubeconfig(url, NS))
        opened.append(context)
        return url

    opened: list[Any] = []
    yield path, start
    for context in opened:
        context.__exit__(None, None, None)


def make_config(path: Path, **settings: Any) -> PlannerConfig:
    k8s = {"kubeconfig": str(path), "request_timeout_seconds": 1.0, **settings.pop("kubernetes", {})}
    if "targets" not in k8s:
        k8s.setdefault("dgd_name", "graph")
    return PlannerConfig(environment="kubernetes", namespace=NS, max_gpu_budget=-1, kubernetes=k8s, **settings)


def ready_at_once(standin: KubeStandIn) -> None:
    """Make the stand-in's "controller" bring a Deployment's pods up the moment it is scaled."""

    def reconcile(key: tuple[str, str, str, str], obj: dict[str, Any]) -> None:
        if key[1] == "deployments":
            replicas = obj["spec"]["replicas"]
            obj.setdefault("status", {}).update(replicas=replicas, readyReplicas=replicas, availableReplicas=replicas)

    standin.on_write = reconcile


def planner_ticks(
    config: PlannerConfig, plugin: Plugin, clock: Clock, ticks: int = 1, check: Any = None
) -> list[TickRecord]:
    """Run a daemon with `plugin` for `ticks` ticks (after `check(planner)` once it has started)."""
    records: list[TickRecord] = []

    async def main() -> None:
        async with Planner(config, clock=clock, plugins=[plugin], discover=False, on_record=records.append) as p:
            if check is not None:
                check(p)
            await p.run(max_ticks=ticks)

    anyio.run(main)
    return records
