"""The Kubernetes connector: Dynamo graph deployments and any workload with a `/scale` subresource."""

from __future__ import annotations

from ._api import KubeApi, KubeConflict, KubeError, KubeForbidden, KubeNotFound, KubeUnavailable, load_api_client
from .connector import KubernetesConnector, resolve_namespace

__all__ = [
    "KubeApi",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeNotFound",
    "KubeUnavailable",
    "KubernetesConnector",
    "load_api_client",
    "resolve_namespace",
]
