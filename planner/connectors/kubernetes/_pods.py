"""Engine pods by label: their addresses for scraping, and deletion costs that pick scale-down victims."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._api import KubeApi

__all__ = ["WorkerPod", "list_worker_pods", "set_deletion_costs", "deletion_cost", "DELETION_COST"]

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class WorkerPod:
    name: str
    ip: str | None
    ready: bool  # running, Ready, not being deleted: it serves and can be scraped


def _ready(pod: Any) -> bool:
    status = pod.status
    if pod.metadata.deletion_timestamp is not None or status is None or status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])


async def list_worker_pods(api: KubeApi, namespace: str, selector: str) -> list[WorkerPod]:
    """The pods `selector` picks, sorted by name."""
    found = await api.call(
        f"listing pods {selector!r} in {namespace}", api.core.list_namespaced_pod, namespace, label_selector=selector
    )
    pods = [WorkerPod(p.metadata.name, (p.status.pod_ip if p.status else None) or None, _ready(p)) for p in found.items]
    return sorted(pods, key=lambda pod: pod.name)


def deletion_cost(in_flight: float | None) -> int:
    """The ReplicaSet controller removes the pods of lowest cost first: cost = requests in flight, so the
    least busy engines go; an engine that has not reported (starting, or its metrics broken) costs 0."""
    if in_flight is None or in_flight != in_flight:
        return 0
    return max(0, min(_INT32_MAX, round(in_flight)))


async def set_deletion_costs(api: KubeApi, namespace: str, costs: Mapping[str, int]) -> None:
    for name, cost in costs.items():
        patch = {"metadata": {"annotations": {DELETION_COST: str(cost)}}}
        await api.call(
            f"annotating pod {name} with {DELETION_COST}", api.core.patch_namespaced_pod, name, namespace, patch
        )
