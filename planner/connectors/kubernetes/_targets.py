"""What the connector scales: a Dynamo graph deployment's service, or any object with a `/scale`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ._api import KubeApi, KubeError, KubeNotFound

__all__ = ["TargetState", "ScaleTarget", "DgdServiceTarget", "ScaleSubresourceTarget", "resolve_plural", "gpu_limit"]

DGD_GROUP = "nvidia.com"
DGD_VERSIONS = ("v1beta1", "v1alpha1")
DGD_PLURAL = "dynamographdeployments"
ADAPTER_PLURAL = "dynamographdeploymentscalingadapters"


@dataclass(frozen=True)
class TargetState:
    """One role's engines as the API server reports them."""

    desired: int  # spec replicas: what was last asked for, by anyone
    ready: int  # serving traffic (available, else ready)
    version: str  # resourceVersion of what `desired` was read from, for a guarded write
    rollout_failed: str | None = None  # why, when the controller gave up


class ScaleTarget(Protocol):
    label: str  # names the target in logs and errors

    async def read(self) -> TargetState: ...

    async def scale(self, replicas: int, state: TargetState) -> None:
        """Set replicas, refused with KubeConflict if the object changed since `state` was read."""
        ...

    async def gpus_per_engine(self) -> int | None:
        """GPUs one engine's pod asks for, where the workload states it."""
        ...


def gpu_limit(resources: Any) -> int | None:
    """GPUs from a resources block: Kubernetes' `nvidia.com/gpu` or Dynamo's `gpu` limit."""
    limits = (resources or {}).get("limits") or {}
    for key in ("nvidia.com/gpu", "gpu"):
        if key in limits:
            try:
                return int(str(limits[key]))
            except ValueError:
                return None
    return None


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, (int, float)) else default


def _failed_condition(status: dict[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return f"rollout failed: {condition.get('message') or 'progress deadline exceeded'}"
    return None


async def resolve_plural(api: KubeApi, api_version: str, kind: str, where: str) -> tuple[str, str, str]:
    """(group, version, plural) of `kind`, checked to have a `/scale` subresource via discovery."""
    group, _, version = api_version.rpartition("/")
    if not group:
        raise KubeError(f"{where}: {api_version}/{kind} is in the core group, which has no scalable workloads")
    resources = await api.call(f"{where}: discovering {api_version}", api.custom.get_api_resources, group, version)
    names = [r.name for r in resources.resources]
    plural = next((r.name for r in resources.resources if r.kind == kind and "/" not in r.name), None)
    if plural is None:
        raise KubeNotFound(f"{where}: the API server serves no kind {kind!r} in {api_version}")
    if f"{plural}/scale" not in names:
        raise KubeError(f"{where}: {api_version} {kind} has no /scale subresource, so it cannot be scaled")
    return group, version, plural


class ScaleSubresourceTarget:
    """A Deployment, StatefulSet, LeaderWorkerSet or CRD scaled through its `/scale` subresource."""

    def __init__(self, api: KubeApi, namespace: str, group: str, version: str, plural: str, name: str) -> None:
        self.api, self.namespace = api, namespace
        self.group, self.version, self.plural, self.name = group, version, plural, name
        self.label = f"{plural}.{group}/{name}"

    async def read_object(self) -> dict[str, Any]:
        return await self.api.call(
            f"reading {self.label}", self.api.custom.get_namespaced_custom_object,
            self.group, self.version, self.namespace, self.plural, self.name,
        )  # fmt: skip

    async def read(self) -> TargetState:
        scale = await self.api.call(
            f"reading {self.label}/scale", self.api.custom.get_namespaced_custom_object_scale,
            self.group, self.version, self.namespace, self.plural, self.name,
        )  # fmt: skip
        status = (await self.read_object()).get("status") or {}
        ready = status.get("availableReplicas", status.get("readyReplicas"))
        if ready is None:
            ready = (scale.get("status") or {}).get("replicas", 0)
        return TargetState(
            desired=_int((scale.get("spec") or {}).get("replicas")),
            ready=_int(ready),
            version=str(scale["metadata"].get("resourceVersion", "")),
            rollout_failed=_failed_condition(status),
        )

    async def scale(self, replicas: int, state: TargetState) -> None:
        body = {"metadata": {"resourceVersion": state.version}, "spec": {"replicas": replicas}}
        await self.api.call(
            f"scaling {self.label} to {replicas}", self.api.custom.patch_namespaced_custom_object_scale,
            self.group, self.version, self.namespace, self.plural, self.name, body,
        )  # fmt: skip

    async def gpus_per_engine(self) -> int | None:
        template = ((await self.read_object()).get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        counts = [gpu_limit(c.get("resources")) for c in containers]
        known = [c for c in counts if c is not None]
        return sum(known) if known else None


class DgdServiceTarget:
    """One service of a DynamoGraphDeployment: scaled through its scaling adapter's `/scale` when the
    operator made one, else by a JSON patch of the DGD guarded by a `test` of the replicas read."""

    def __init__(self, api: KubeApi, namespace: str, version: str, dgd: str, service: str, adapter: bool) -> None:
        self.api, self.namespace, self.version = api, namespace, version
        self.dgd, self.service = dgd, service
        self.label = f"{DGD_PLURAL}.{DGD_GROUP}/{dgd} service {service}"
        self.adapter = (
            ScaleSubresourceTarget(api, namespace, DGD_GROUP, version, ADAPTER_PLURAL, f"{dgd}-{service.lower()}")
            if adapter
            else None
        )

    async def read_dgd(self) -> dict[str, Any]:
        return await read_dgd(self.api, self.namespace, self.version, self.dgd)

    async def read(self) -> TargetState:
        dgd = await self.read_dgd()
        spec = ((dgd.get("spec") or {}).get("services") or {}).get(self.service) or {}
        status = ((dgd.get("status") or {}).get("services") or {}).get(self.service) or {}
        ready = _int(status.get("availableReplicas", status.get("readyReplicas")))
        if self.adapter is not None:
            scale = await self.api.call(
                f"reading {self.adapter.label}/scale", self.api.custom.get_namespaced_custom_object_scale,
                DGD_GROUP, self.version, self.namespace, ADAPTER_PLURAL, self.adapter.name,
            )  # fmt: skip
            desired = _int((scale.get("spec") or {}).get("replicas"))
            return TargetState(desired, ready, str(scale["metadata"].get("resourceVersion", "")))
        return TargetState(_int(spec.get("replicas"), 1), ready, str(dgd["metadata"].get("resourceVersion", "")))

    async def scale(self, replicas: int, state: TargetState) -> None:
        if self.adapter is not None:
            await self.adapter.scale(replicas, state)
            return
        path = f"/spec/services/{self.service.replace('~', '~0').replace('/', '~1')}/replicas"
        patch = [
            {"op": "test", "path": path, "value": state.desired},
            {"op": "replace", "path": path, "value": replicas},
        ]
        await self.api.call(
            f"patching {DGD_PLURAL}/{self.dgd} {self.service} to {replicas}",
            self.api.custom.patch_namespaced_custom_object,
            DGD_GROUP, self.version, self.namespace, DGD_PLURAL, self.dgd, patch,
            _content_type="application/json-patch+json",
        )  # fmt: skip

    async def gpus_per_engine(self) -> int | None:
        spec = ((await self.read_dgd()).get("spec") or {}).get("services", {}).get(self.service) or {}
        main = ((spec.get("extraPodSpec") or {}).get("mainContainer") or {}).get("resources")
        return gpu_limit(spec.get("resources")) or gpu_limit(main)


async def read_dgd(api: KubeApi, namespace: str, version: str, name: str) -> dict[str, Any]:
    return await api.call(
        f"reading {DGD_PLURAL}.{DGD_GROUP}/{name} in {namespace}",
        api.custom.get_namespaced_custom_object, DGD_GROUP, version, namespace, DGD_PLURAL, name,
    )  # fmt: skip
