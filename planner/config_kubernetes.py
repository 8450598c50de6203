"""The Kubernetes sections of PlannerConfig: what to scale, where its workers are, leader election."""

from __future__ import annotations

import os
from collections.abc import Sequence

from pydantic import Field, model_validator

from planner_sdk import Role

from .config_sections import Section

__all__ = [
    "ScaleTargetRef",
    "KubernetesTargets",
    "WorkerDiscoveryConfig",
    "KubernetesWorkers",
    "KubernetesConfig",
    "HaConfig",
]


class ScaleTargetRef(Section):
    """A workload with a `/scale` subresource: Deployment, StatefulSet, LeaderWorkerSet, a CRD."""

    api_version: str = Field(pattern=r"^[a-z0-9.-]+/v[0-9a-z]+$", description="e.g. apps/v1")
    kind: str = Field(min_length=1, description="e.g. Deployment")
    name: str = Field(min_length=1)


class KubernetesTargets(Section):
    prefill: ScaleTargetRef | None = None
    decode: ScaleTargetRef | None = None
    agg: ScaleTargetRef | None = None

    def for_roles(self, roles: Sequence[Role]) -> dict[Role, dict[str, str]]:
        refs = {role: getattr(self, role.value) for role in roles}
        return {role: ref.model_dump() for role, ref in refs.items() if ref is not None}


class WorkerDiscoveryConfig(Section):
    """One role's engine pods, found by label, scraped by `builtin_worker_metrics`."""

    label_selector: str = Field(min_length=1, description="e.g. `app=vllm-decode`: selects the role's pods.")
    metrics_port: int = Field(8000, ge=1, le=65535, description="Port of each pod's Prometheus metrics.")
    metrics_path: str = Field("/metrics", pattern=r"^/", description="Path of each pod's Prometheus metrics.")
    scheme: str = Field("http", pattern=r"^https?$", description="`http` or `https`.")


class KubernetesWorkers(Section):
    prefill: WorkerDiscoveryConfig | None = None
    decode: WorkerDiscoveryConfig | None = None
    agg: WorkerDiscoveryConfig | None = None

    def for_roles(self, roles: Sequence[Role]) -> dict[Role, WorkerDiscoveryConfig]:
        found = {role: getattr(self, role.value) for role in roles}
        return {role: spec for role, spec in found.items() if spec is not None}


class KubernetesConfig(Section):
    """`environment: kubernetes`: what to scale and how to reach the API server."""

    kubeconfig: str | None = Field(None, description="Kubeconfig file; default $KUBECONFIG, else in-cluster.")
    context: str | None = Field(None, description="Kubeconfig context; default its current one.")
    dgd_name: str | None = Field(
        default_factory=lambda: os.environ.get("DYN_PARENT_DGD_K8S_NAME") or None,
        description="The DynamoGraphDeployment to scale (env DYN_PARENT_DGD_K8S_NAME).",
    )
    targets: KubernetesTargets = Field(default_factory=KubernetesTargets)
    workers: KubernetesWorkers = Field(default_factory=KubernetesWorkers)
    request_timeout_seconds: float = Field(10.0, gt=0, description="Each API call's timeout.")
    manual_override_hold_seconds: float = Field(
        600.0, ge=0, description="How long replicas someone else set are respected."
    )
    conflict_retries: int = Field(3, ge=0, description="Re-read and retry this often on a write conflict.")
    backoff_seconds: float = Field(5.0, gt=0, description="First back-off after a 5xx or timeout; doubles, max 60 s.")
    worker_discovery_refresh_seconds: float = Field(
        10.0, ge=0, description="How long a list of worker pods is reused before it is read again."
    )


class HaConfig(Section):
    """Leader election with a `coordination.k8s.io/v1` Lease: only the leader applies decisions."""

    enabled: bool = Field(False, description="Elect a leader; followers plan advisory and take over.")
    lease_name: str = Field(
        "planner-leader", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="The Lease's name."
    )
    identity: str | None = Field(
        default_factory=lambda: os.environ.get("POD_NAME") or None,
        description="This replica's name on the Lease (env POD_NAME); default: host name and a random suffix.",
    )
    lease_duration_seconds: float = Field(15.0, gt=0, description="A lease not renewed this long is free.")
    renew_deadline_seconds: float = Field(10.0, gt=0, description="A leader not renewed this long steps down.")
    retry_period_seconds: float = Field(2.0, gt=0, description="How often to renew, or try to acquire.")

    @model_validator(mode="after")
    def _ordered(self) -> HaConfig:
        if not self.retry_period_seconds < self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError(
                f"need retry_period_seconds ({self.retry_period_seconds:g}) < renew_deadline_seconds "
                f"({self.renew_deadline_seconds:g}) < lease_duration_seconds ({self.lease_duration_seconds:g})"
            )
        return self
