"""deploy/'s Kustomize overlays render with `kubectl kustomize`, validate against the Kubernetes schemas,
carry a planner config that loads, and grant exactly the RBAC the connector uses.

Rendering needs `kubectl` (kustomize is built in; `.ci/run` installs it and sets
PLANNER_REQUIRE_KUBECTL=1). The RBAC check runs the connector through the real `kubernetes` client
against the API server stand-in (`kube_apiserver`), which allows only what the rendered Role grants.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import kubernetes_validate
import pytest
import yaml

from kube_apiserver import KubeStandIn, kubeconfig, serve
from kube_fixtures import deployment_standin, dynamo_standin
from planner import VirtualClock
from planner.config import load_config
from planner.connectors.kubernetes import KubernetesConnector, LeaseElection
from planner.errors import ConnectorError
from planner_sdk import Decision, Role

ROOT = Path(__file__).resolve().parents[1]
OVERLAYS = ["dynamo", "vllm"]
KUBECTL = shutil.which("kubectl")
if KUBECTL is None and os.environ.get("PLANNER_REQUIRE_KUBECTL") != "1":
    pytest.skip("kubectl is not installed", allow_module_level=True)
KUBERNETES_VERSION = "1.32.0"


def render(overlay: str | Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None, "PLANNER_REQUIRE_KUBECTL=1 but kubectl is not on PATH"
    out = subprocess.run(
        [KUBECTL, "kustomize", str(overlay if isinstance(overlay, Path) else ROOT / "deploy" / "overlays" / overlay)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_servicemonitor_component_scrapes_the_planners_metrics_port(overlay: str, tmp_path: Path) -> None:
    """What a user writes: their overlay plus the component. The ServiceMonitor is a Prometheus Operator
    CRD the Kubernetes schemas do not know, so it is checked against the Service it must select."""
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(ROOT / 'deploy' / 'overlays' / overlay, tmp_path)}]\n"
        f"components: [{os.path.relpath(ROOT / 'deploy' / 'components' / 'servicemonitor', tmp_path)}]\n"
    )
    docs = render(tmp_path)
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    labels = service["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PLANNER_PROMETHEUS_PORT"] == str(port["port"])  # the planner serves /metrics where it scrapes
    assert endpoint["path"] == "/metrics"
    for doc in docs:
        if doc["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_is_valid_against_the_kubernetes_schemas(overlay: str) -> None:
    docs = render(overlay)
    assert {d["kind"] for d in docs} >= {
        "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
    }  # fmt: skip
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployment_is_non_root_probed_and_mounts_its_config(overlay: str) -> None:
    docs = render(overlay)
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2  # one leader, one warm follower
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config_map = one(docs, "ConfigMap")["metadata"]["name"]
    assert {"name": "config", "configMap": {"name": config_map}} in pod["volumes"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_shipped_planner_config_loads_with_the_deployments_environment(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(overlay)
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    for variable in container["env"]:
        monkeypatch.setenv(variable["name"], variable.get("value", "planner-7d9c-x2k4"))  # POD_NAME: the pod's
    path = tmp_path / "planner.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["planner.yaml"])
    config = load_config(path)
    assert config.environment == "kubernetes"
    assert config.health_port == 8080
    assert config.metric_reporting_prometheus_port == 8080
    assert config.metric_pulling_prometheus_endpoint is not None
    assert config.ha.enabled
    assert config.ha.identity == "planner-7d9c-x2k4"


def granted(role: dict[str, Any]) -> set[tuple[str, str]]:
    return {(verb, resource) for rule in role["rules"] for resource in rule["resources"] for verb in rule["verbs"]}


def connector_round(standin: KubeStandIn, overlay: str, tmp_path: Path) -> None:
    """What the daemon does: start, lead (create the Lease, claim an id), read, find the workers, scale
    up and down (through whichever path the target offers; pods marked first), hand the Lease back."""
    config_text = one(render(overlay), "ConfigMap")["data"]["planner.yaml"]
    settings = yaml.safe_load(config_text)
    path = tmp_path / "kubeconfig"
    with serve(standin) as url:
        path.write_text(kubeconfig(url, "llm"))
        k8s = {**settings.get("kubernetes", {}), "kubeconfig": str(path)}
        if "targets" not in k8s:
            k8s["dgd_name"] = "graph"
        ha = settings.get("ha", {})
        config = load_config(None, [f"kubernetes={k8s}", f"ha={ha}", "environment=kubernetes", "namespace=llm"])
        assert config.ha.enabled
        connector = KubernetesConnector(config, VirtualClock())

        async def main() -> None:
            try:
                await connector.start()
                election = LeaseElection(connector.api, connector.namespace, config.ha, connector.clock)
                if not await election.try_acquire_or_renew():
                    raise ConnectorError(f"not the leader: {election.error}")
                claim = await election.claim_decision_id(1)
                if claim.decision_id is None:
                    raise ConnectorError(claim.reason)
                await connector.current_replicas()
                workers = await connector.worker_endpoints()
                connector.in_flight = lambda: {worker.worker_id: 1.0 for worker in workers}
                await connector.apply(Decision(claim.decision_id, {Role.PREFILL: 5, Role.DECODE: 4}))
                notes = await connector.apply(Decision(claim.decision_id + 1, {Role.PREFILL: 1, Role.DECODE: 1}))
                refused = [note for note in notes if "HTTP 403" in note]  # a scale-down goes on without marks
                if refused:
                    raise ConnectorError(refused[0])
                await election.release()
            finally:
                await connector.aclose()

        anyio.run(main)


STANDINS = {
    "dynamo": [lambda: dynamo_standin(adapters=True), lambda: dynamo_standin(adapters=False)],
    "vllm": [deployment_standin],
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_role_grants_what_the_connector_uses(overlay: str, tmp_path: Path) -> None:
    role = granted(one(render(overlay), "Role"))
    for make in STANDINS[overlay]:
        standin = make()
        standin.allowed = role
        connector_round(standin, overlay, tmp_path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_role_grants_nothing_the_connector_does_not_use(overlay: str, tmp_path: Path) -> None:
    role = granted(one(render(overlay), "Role"))
    for permission in sorted(role):
        refused = []
        for make in STANDINS[overlay]:
            standin = make()
            standin.allowed = role - {permission}
            try:
                connector_round(standin, overlay, tmp_path)
            except ConnectorError:
                refused.append(make)
        assert refused, f"{permission} is granted but no connector path needs it"
