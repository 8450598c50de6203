"""The Kubernetes connector (Dynamo graph deployments, any `/scale` workload) and Lease leader election."""

from __future__ import annotations

from ._api import KubeApi, KubeConflict, KubeError, KubeForbidden, KubeNotFound, KubeUnavailable, load_api_client
from .connector import KubernetesConnector, resolve_namespace
from .leader import LAST_DECISION_ANNOTATION, LeaseElection

__all__ = [
    "KubeApi",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeNotFound",
    "KubeUnavailable",
    "KubernetesConnector",
    "LAST_DECISION_ANNOTATION",
    "LeaseElection",
    "load_api_client",
    "resolve_namespace",
]
