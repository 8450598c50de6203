"""Find what to scale per role: a DGD's services by `subComponentType`, or the configured `/scale` targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from planner_sdk import Role

from ._api import KubeApi, KubeError, KubeNotFound
from ._targets import (
    ADAPTER_PLURAL,
    DGD_GROUP,
    DGD_VERSIONS,
    DgdServiceTarget,
    ScaleSubresourceTarget,
    ScaleTarget,
    read_dgd,
    resolve_plural,
)

__all__ = ["resolve_dgd_targets", "resolve_scale_targets", "LEGACY_SERVICE_NAMES"]

# Older graphs name their services instead of typing them (Dynamo's fallback, per backend).
LEGACY_SERVICE_NAMES: Mapping[str, Mapping[Role, tuple[str, ...]]] = {
    "vllm": {Role.PREFILL: ("VllmPrefillWorker",), Role.DECODE: ("VllmDecodeWorker",), Role.AGG: ("VllmDecodeWorker",)},
    "sglang": {Role.PREFILL: ("prefill",), Role.DECODE: ("decode",), Role.AGG: ("decode",)},
    "trtllm": {
        Role.PREFILL: ("TRTLLMPrefillWorker",), Role.DECODE: ("TRTLLMDecodeWorker",), Role.AGG: ("TRTLLMWorker",),
    },
    "mocker": {Role.PREFILL: ("prefill",), Role.DECODE: ("decode",), Role.AGG: ("decode",)},
}  # fmt: skip


def _service_for(services: Mapping[str, Any], role: Role, backend: str) -> str | None:
    wanted = "decode" if role is Role.AGG else role.value
    typed = [name for name, spec in services.items() if (spec or {}).get("subComponentType") == wanted]
    if role is Role.AGG and not typed:
        typed = [n for n, s in services.items() if (s or {}).get("componentType") == "worker"]
    if len(typed) == 1:
        return typed[0]
    if len(typed) > 1:
        raise KubeError(f"services {sorted(typed)} all have subComponentType {wanted!r}: the planner scales one")
    return next((n for n in LEGACY_SERVICE_NAMES.get(backend, {}).get(role, ()) if n in services), None)


async def _adapter_exists(api: KubeApi, namespace: str, version: str, name: str) -> bool:
    try:
        await api.call(
            f"reading {ADAPTER_PLURAL}/{name}", api.custom.get_namespaced_custom_object_scale,
            DGD_GROUP, version, namespace, ADAPTER_PLURAL, name,
        )  # fmt: skip
    except KubeNotFound:
        return False
    return True


async def resolve_dgd_targets(
    api: KubeApi, namespace: str, dgd_name: str, roles: Sequence[Role], backend: str
) -> dict[Role, ScaleTarget]:
    """The DGD's service per role, at the newest API version the server serves."""
    dgd: dict[str, Any] | None = None
    version = DGD_VERSIONS[0]
    for version in DGD_VERSIONS:
        try:
            dgd = await read_dgd(api, namespace, version, dgd_name)
            break
        except KubeNotFound:
            continue
    if dgd is None:
        raise KubeNotFound(
            f"kubernetes.dgd_name: DynamoGraphDeployment {dgd_name!r} not found in namespace {namespace!r} "
            f"(tried {', '.join(DGD_VERSIONS)})"
        )
    services = (dgd.get("spec") or {}).get("services") or {}
    targets: dict[Role, ScaleTarget] = {}
    for role in roles:
        service = _service_for(services, role, backend)
        if service is None:
            raise KubeNotFound(
                f"kubernetes.dgd_name: {dgd_name!r} has no {role.value} service (no subComponentType "
                f"{role.value!r} and none of the legacy names); its services: {sorted(services)}"
            )
        adapter = await _adapter_exists(api, namespace, version, f"{dgd_name}-{service.lower()}")
        targets[role] = DgdServiceTarget(api, namespace, version, dgd_name, service, adapter)
    return targets


async def resolve_scale_targets(
    api: KubeApi, namespace: str, refs: Mapping[Role, Mapping[str, str]]
) -> dict[Role, ScaleTarget]:
    """Each configured `{api_version, kind, name}`, checked to exist and to have `/scale`."""
    targets: dict[Role, ScaleTarget] = {}
    for role, ref in refs.items():
        where = f"kubernetes.targets.{role.value}"
        group, version, plural = await resolve_plural(api, ref["api_version"], ref["kind"], where)
        target = ScaleSubresourceTarget(api, namespace, group, version, plural, ref["name"])
        try:
            await target.read()
        except KubeNotFound:
            raise KubeNotFound(f"{where}: {ref['kind']} {ref['name']!r} not found in namespace {namespace!r}") from None
        targets[role] = target
    return targets
