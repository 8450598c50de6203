"""The Kubernetes connector, through the official client, against the API server stand-in.

No Kubernetes API server can run here; `kube_apiserver.KubeStandIn` follows its HTTP API
(discovery, resourceVersion conflicts, `/scale`, JSON-patch `test`, Status errors) on loopback,
and the real `kubernetes` client talks to it through a kubeconfig file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from helpers import Propose, set_targets
from kube_apiserver import Fault
from kube_fixtures import (
    DGD_V,
    NS,
    TARGETS,
    D,
    P,
    deployment_standin,
    dynamo_standin,
    make_config,
    planner_ticks,
)
from planner import Planner, VirtualClock, WallClock
from planner.config import load_config
from planner.connectors.kubernetes import KubernetesConnector, KubeUnavailable
from planner.errors import ConnectorError
from planner_sdk import Decision


def run(connector: KubernetesConnector, work: Any) -> Any:
    async def main() -> Any:
        try:
            await connector.start()
            return await work(connector)
        finally:
            await connector.aclose()

    return anyio.run(main)


def decide(decision_id: int, prefill: int, decode: int) -> Decision:
    return Decision(decision_id, {P: prefill, D: decode})


def test_dgd_services_are_found_by_sub_component_type_and_scaled_through_their_adapters(kube: Any) -> None:
    path, start = kube
    standin = dynamo_standin()
    start(standin)

    async def work(c: KubernetesConnector) -> Any:
        before = await c.current_replicas()
        notes = await c.apply(decide(1, 4, 3))
        return before, notes

    before, notes = run(KubernetesConnector(make_config(path), VirtualClock()), work)
    assert (before[P].ready, before[P].expected, before[D].expected) == (2, 2, 1)
    assert notes == []
    adapters = "dynamographdeploymentscalingadapters"
    assert standin.get(DGD_V, adapters, NS, "graph-pf")["spec"]["replicas"] == 4
    assert standin.get(DGD_V, adapters, NS, "graph-dec")["spec"]["replicas"] == 3
    assert all(path.endswith("/scale") for path in standin.writes())


def test_dgd_of_the_older_api_version_is_found_too(kube: Any) -> None:
    path, start = kube
    standin = dynamo_standin("v1alpha1")
    start(standin)
    replicas = run(KubernetesConnector(make_config(path), VirtualClock()), lambda c: c.current_replicas())
    assert replicas[P].expected == 2


def test_without_an_adapter_the_dgd_is_patched_with_a_test_of_the_replicas_read(kube: Any) -> None:
    path, start = kube
    standin = dynamo_standin(adapters=False)
    start(standin)
    run(KubernetesConnector(make_config(path), VirtualClock()), lambda c: c.apply(decide(1, 5, 1)))
    assert standin.get(DGD_V, "dynamographdeployments", NS, "graph")["spec"]["services"]["pf"]["replicas"] == 5


def test_a_concurrent_dgd_edit_fails_the_test_op_and_the_write_is_redone_on_fresh_data(kube: Any) -> None:
    path, start = kube
    standin = dynamo_standin(adapters=False)
    standin.faults.append(Fault("PATCH", "dynamographdeployments/graph", status=422))
    start(standin)
    run(KubernetesConnector(make_config(path), VirtualClock()), lambda c: c.apply(decide(1, 5, 1)))
    assert len(standin.writes()) == 2
    assert standin.get(DGD_V, "dynamographdeployments", NS, "graph")["spec"]["services"]["pf"]["replicas"] == 5


def test_gpus_per_engine_come_from_the_service_limits(kube: Any) -> None:
    path, start = kube
    start(dynamo_standin())
    found = run(KubernetesConnector(make_config(path), VirtualClock()), lambda c: c.gpus_per_engine())
    assert found == {P: 2}  # the decode service states none


def test_any_workload_with_scale_is_a_target(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    standin.edit("apps/v1", "deployments", NS, "vllm-decode", lambda o: o["status"].update(readyReplicas=2))
    start(standin)

    async def work(c: KubernetesConnector) -> Any:
        before = await c.current_replicas()
        await c.apply(decide(1, 3, 3))
        return before, await c.gpus_per_engine()

    before, gpus = run(KubernetesConnector(make_config(path, kubernetes={"targets": TARGETS}), VirtualClock()), work)
    assert (before[D].ready, before[D].expected) == (2, 3)
    assert before[D].scaling
    assert standin.get("apps/v1", "deployments", NS, "vllm-prefill")["spec"]["replicas"] == 3
    assert standin.writes() == ["/apis/apps/v1/namespaces/llm/deployments/vllm-prefill/scale"]  # decode unchanged
    assert gpus == {P: 4, D: 1}


def test_a_409_is_reread_and_retried(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    standin.faults.append(Fault("PATCH", "vllm-prefill/scale", status=409))
    start(standin)
    run(KubernetesConnector(make_config(path, kubernetes={"targets": TARGETS}), VirtualClock()),
        lambda c: c.apply(decide(1, 4, 3)))  # fmt: skip
    assert standin.get("apps/v1", "deployments", NS, "vllm-prefill")["spec"]["replicas"] == 4
    assert len(standin.writes()) == 2


@pytest.mark.parametrize("fault", [Fault("PATCH", "/scale", status=503), Fault("PATCH", "/scale", delay_s=2.5)])
def test_5xx_and_timeouts_fail_the_apply_then_back_off_then_retry(kube: Any, fault: Fault) -> None:
    path, start = kube
    standin = deployment_standin()
    standin.faults.append(fault)
    start(standin)
    clock = VirtualClock()

    async def work(c: KubernetesConnector) -> list[str]:
        outcomes = []
        for decision_id, advance in ((1, 0.0), (2, 1.0), (3, 10.0)):
            clock.advance(advance)
            try:
                await c.apply(decide(decision_id, 4, 3))
                outcomes.append("applied")
            except KubeUnavailable as exc:
                outcomes.append(str(exc))
        return outcomes

    outcomes = run(KubernetesConnector(make_config(path, kubernetes={"targets": TARGETS}), clock), work)
    assert "HTTP 503" in outcomes[0] or "no answer from the API server within 1 s" in outcomes[0]
    assert outcomes[1].startswith("backing off for another 4 s")
    assert outcomes[2] == "applied"
    assert standin.get("apps/v1", "deployments", NS, "vllm-prefill")["spec"]["replicas"] == 4


def test_a_decision_id_is_never_applied_twice(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    start(standin)

    async def work(c: KubernetesConnector) -> None:
        await c.apply(decide(7, 4, 3))
        standin.edit("apps/v1", "deployments", NS, "vllm-prefill", lambda o: o["spec"].update(replicas=4))
        await c.apply(decide(7, 9, 9))
        await c.apply(decide(6, 9, 9))

    run(KubernetesConnector(make_config(path, kubernetes={"targets": TARGETS}), VirtualClock()), work)
    assert len(standin.writes()) == 1


def test_replicas_someone_else_set_are_held_then_the_planner_resumes(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    start(standin)
    clock = VirtualClock()
    config = make_config(path, kubernetes={"targets": TARGETS, "manual_override_hold_seconds": 600})

    async def work(c: KubernetesConnector) -> list[Any]:
        await c.apply(decide(1, 4, 3))
        standin.edit("apps/v1", "deployments", NS, "vllm-prefill", lambda o: o["spec"].update(replicas=8))
        clock.advance(60)
        held = await c.apply(decide(2, 5, 3))
        clock.advance(600)
        resumed = await c.apply(decide(3, 5, 3))
        return [held, resumed]

    held, resumed = run(KubernetesConnector(config, clock), work)
    assert len(held) == 1
    assert held[0].startswith("manual_override: prefill was set to 8 outside the planner")
    assert "not applying 5" in held[0]
    assert resumed == []
    assert standin.get("apps/v1", "deployments", NS, "vllm-prefill")["spec"]["replicas"] == 5


def test_a_failed_rollout_is_a_clear_error(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": 'ReplicaSet "vllm-decode-7d" has timed out progressing.'}  # fmt: skip
    standin.edit("apps/v1", "deployments", NS, "vllm-decode", lambda o: o["status"].update(conditions=[condition]))
    start(standin)
    with pytest.raises(ConnectorError, match=r"decode \(deployments.apps/vllm-decode\): rollout failed: ReplicaSet"):
        run(KubernetesConnector(make_config(path, kubernetes={"targets": TARGETS}), VirtualClock()),
            lambda c: c.current_replicas())  # fmt: skip


@pytest.mark.parametrize(
    ("standin_factory", "settings", "complaint"),
    [
        (dynamo_standin, {"dgd_name": "nope"}, r"kubernetes.dgd_name: DynamoGraphDeployment 'nope' not found"),
        (
            deployment_standin,
            {"targets": {**TARGETS, "decode": {"api_version": "apps/v1", "kind": "ControllerRevision", "name": "x"}}},
            r"kubernetes.targets.decode: apps/v1 ControllerRevision has no /scale subresource",
        ),
        (
            deployment_standin,
            {"targets": {**TARGETS, "decode": {"api_version": "apps/v1", "kind": "Deployment", "name": "gone"}}},
            r"kubernetes.targets.decode: Deployment 'gone' not found in namespace 'llm'",
        ),
    ],
)
def test_a_deployment_that_is_not_there_is_one_clear_line(
    kube: Any, standin_factory: Any, settings: dict[str, Any], complaint: str
) -> None:
    path, start = kube
    start(standin_factory())
    with pytest.raises(ConnectorError, match=complaint):
        run(KubernetesConnector(make_config(path, kubernetes=settings), VirtualClock()), lambda c: c.current_replicas())


def test_missing_rbac_names_the_permission_and_the_role(kube: Any) -> None:
    path, start = kube
    standin = dynamo_standin()
    standin.forbidden.add(("patch", "dynamographdeploymentscalingadapters/scale"))
    start(standin)
    with pytest.raises(ConnectorError, match=r'HTTP 403: .*cannot patch resource "dynamo.*/scale".*Role/RoleBinding'):
        run(KubernetesConnector(make_config(path), VirtualClock()), lambda c: c.apply(decide(1, 3, 1)))


def test_a_bad_kubeconfig_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("this: [is not a kubeconfig")
    with pytest.raises(ConnectorError, match=r"kubernetes.kubeconfig '.*kubeconfig': cannot be loaded"):
        run(KubernetesConnector(make_config(path), VirtualClock()), lambda c: c.current_replicas())


def test_environment_kubernetes_needs_a_graph_or_targets() -> None:
    from planner.errors import ConfigError

    with pytest.raises(ConfigError, match=r"needs kubernetes\.dgd_name"):
        load_config(None, ["environment=kubernetes", "namespace=x"])


def _planner_ticks(path: Path, ticks: int, **settings: Any) -> list[Any]:
    def gpus_from_the_pods(p: Planner) -> None:
        assert (p.config.prefill_engine_num_gpu, p.config.decode_engine_num_gpu) == (4, 1)

    config = make_config(path, kubernetes={"targets": TARGETS}, **settings)
    return planner_ticks(config, Propose("fixed", set_targets(4, 3)), WallClock(), ticks, gpus_from_the_pods)


def test_the_daemon_scales_kubernetes_and_records_a_failed_apply(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    standin.faults.append(Fault("PATCH", "/scale", status=500))
    start(standin)
    records = _planner_ticks(path, 1)
    assert records[0].outcome == "apply_failed"
    assert "HTTP 500" in records[0].reason


def test_the_daemon_applies_through_kubernetes(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    start(standin)
    (record,) = _planner_ticks(path, 1)
    assert record.outcome == "applied", record.reason
    assert standin.get("apps/v1", "deployments", NS, "vllm-prefill")["spec"]["replicas"] == 4


def test_planner_run_refuses_an_unknown_graph_with_one_line_and_exit_2(kube: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    path, start = kube
    start(dynamo_standin())
    config = tmp_path / "planner.yaml"
    config.write_text(f"environment: kubernetes\nnamespace: {NS}\nkubernetes: {{kubeconfig: {path}, dgd_name: nope}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "planner", "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "kubernetes.dgd_name: DynamoGraphDeployment 'nope' not found" in done.stderr
    assert "Traceback" not in done.stderr
