"""The official kubernetes client, called off the event loop with a timeout, errors made typed and clear."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from ...clock import Clock
from ...errors import ConnectorError

__all__ = [
    "KubeApi",
    "KubeError",
    "KubeConflict",
    "KubeForbidden",
    "KubeNotFound",
    "KubeUnavailable",
    "SERVICE_ACCOUNT_NAMESPACE",
    "load_api_client",
]

T = TypeVar("T")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KubeError(ConnectorError):
    """The API server refused or failed a call; `status` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubeConflict(KubeError):
    """409, or a failed `test` op (422): someone else changed the object first. Re-read and retry."""


class KubeForbidden(KubeError):
    """401/403: the planner's service account lacks a permission (RBAC)."""


class KubeNotFound(KubeError):
    """404: the object or resource does not exist."""


class KubeUnavailable(KubeError):
    """5xx, a timeout or no connection: back off and let a later tick retry."""


def load_api_client(kubeconfig: str | None, context: str | None) -> k8s.ApiClient:
    """`kubeconfig` (else $KUBECONFIG) when given, else the in-cluster service account."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    configuration = k8s.Configuration()
    try:
        if path:
            k8s_config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)
    except (ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        where = f"kubernetes.kubeconfig {path!r}" if path else "in-cluster service account (no kubeconfig given)"
        raise ConnectorError(f"{where}: cannot be loaded: {exc}") from None
    return k8s.ApiClient(configuration)


def _message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
        return str(body.get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason or exc.body)


class KubeApi:
    """The custom-objects API of one ApiClient (it reaches any group's objects and `/scale`) and the core
    API (pods), every call run in a worker thread with a timeout."""

    def __init__(self, api_client: k8s.ApiClient, clock: Clock, timeout_s: float) -> None:
        self.api_client = api_client
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.clock = clock
        self.timeout_s = timeout_s

    async def call(self, what: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `method(*args, **kwargs)` off the loop; `what` names the call in errors."""
        bound = functools.partial(method, *args, _request_timeout=self.timeout_s, **kwargs)
        with self.clock.busy(), anyio.move_on_after(self.timeout_s + 1.0):
            try:
                return await anyio.to_thread.run_sync(bound, abandon_on_cancel=True)
            except ApiException as exc:
                raise _typed(what, exc) from None
            except Urllib3TimeoutError:
                pass  # said below, the same as the guard's timeout
            except (Urllib3Error, OSError) as exc:
                raise KubeUnavailable(f"{what}: no answer from the API server: {type(exc).__name__}: {exc}") from None
        raise KubeUnavailable(f"{what}: no answer from the API server within {self.timeout_s:g} s")

    def close(self) -> None:
        self.api_client.close()


def _typed(what: str, exc: ApiException) -> KubeError:
    status = int(exc.status or 0)
    text = f"{what}: HTTP {status}: {_message(exc)}"
    if status in (401, 403):
        return KubeForbidden(text + " (check the planner's Role/RoleBinding: deploy/base/rbac.yaml)", status)
    if status == 404:
        return KubeNotFound(text, status)
    if status in (409, 422):
        return KubeConflict(text, status)
    if status >= 500 or status in (0, 429):
        return KubeUnavailable(text, status)
    return KubeError(text, status)
