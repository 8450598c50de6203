"""Leader election on a Lease, through the official client, against the API server stand-in.

No Kubernetes API server can run here; `kube_apiserver.KubeStandIn` serves Leases as the real one
does (create with 409 AlreadyExists, resourceVersion-guarded replace). Each replica below has its own
virtual clock, so expiry is judged on each replica's local time as in a real cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from helpers import Propose, set_targets
from kube_apiserver import Fault, KubeStandIn
from kube_fixtures import NS, TARGETS, deployment_standin, make_config
from planner import Planner, TickRecord, VirtualClock
from planner.config_kubernetes import HaConfig
from planner.connectors.kubernetes import LAST_DECISION_ANNOTATION, KubeApi, LeaseElection, load_api_client
from planner.errors import ConfigError

LEASES = ("coordination.k8s.io/v1", "leases")
HA = HaConfig(enabled=True, identity="a", lease_duration_seconds=15, renew_deadline_seconds=10, retry_period_seconds=2)


def election(path: Path, identity: str, clock: VirtualClock | None = None) -> LeaseElection:
    api = KubeApi(load_api_client(str(path), None), clock or VirtualClock(), 2.0)
    return LeaseElection(api, NS, HA.model_copy(update={"identity": identity}), api.clock)


def lease(standin: KubeStandIn) -> dict[str, Any]:
    return standin.get(*LEASES, NS, "planner-leader")


def run(work: Any) -> Any:
    return anyio.run(work)


def test_the_first_replica_creates_the_lease_and_leads_the_second_follows(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    start(standin)
    a, b = election(path, "a"), election(path, "b")

    async def work() -> tuple[bool, bool]:
        return await a.try_acquire_or_renew(), await b.try_acquire_or_renew()

    assert run(work) == (True, False)
    assert lease(standin)["spec"]["holderIdentity"] == "a"
    assert lease(standin)["spec"]["leaseDurationSeconds"] == 15
    assert (a.known, b.known, b.holder) == (True, True, "a")
    assert a.not_ready() == []
    assert b.not_ready() == []


def test_a_follower_takes_over_only_after_seeing_the_lease_unchanged_for_its_duration(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    start(standin)
    clock_b = VirtualClock()
    a, b = election(path, "a"), election(path, "b", clock_b)

    async def work() -> list[bool]:
        await a.try_acquire_or_renew()  # a leads, then stops renewing (it died)
        seen = [await b.try_acquire_or_renew()]
        clock_b.advance(14.0)
        seen.append(await b.try_acquire_or_renew())
        clock_b.advance(1.5)
        seen.append(await b.try_acquire_or_renew())
        return seen

    assert run(work) == [False, False, True]
    assert lease(standin)["spec"]["holderIdentity"] == "b"
    assert lease(standin)["spec"]["leaseTransitions"] == 1


def test_a_renewing_leader_keeps_the_lease(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    start(standin)
    clock_a, clock_b = VirtualClock(), VirtualClock()
    a, b = election(path, "a", clock_a), election(path, "b", clock_b)

    async def work() -> bool:
        await a.try_acquire_or_renew()
        for _ in range(20):
            clock_a.advance(2.0)
            clock_b.advance(2.0)
            await a.try_acquire_or_renew()
            if await b.try_acquire_or_renew():
                return True
        return False

    assert run(work) is False
    assert a.is_leader()


def test_a_leader_that_cannot_renew_steps_down_at_the_renew_deadline(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    start(standin)
    clock = VirtualClock()
    a = election(path, "a", clock)

    async def work() -> list[bool]:
        await a.try_acquire_or_renew()
        standin.faults.append(Fault("PUT", "leases/planner-leader", status=503, times=100))
        seen = []
        for _ in range(6):
            clock.advance(2.0)
            seen.append(await a.try_acquire_or_renew())
        return seen

    assert run(work) == [True, True, True, True, False, False]
    assert "HTTP 503" in (a.error or "")
    claim = run(lambda: a.claim_decision_id(1))
    assert claim.decision_id is None
    assert "lease llm/planner-leader not renewed for 10 s; not applying" in claim.reason


def test_a_claimed_decision_id_is_written_to_the_lease(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    start(standin)
    a = election(path, "a")

    async def work() -> list[int | None]:
        await a.try_acquire_or_renew()
        return [(await a.claim_decision_id(1)).decision_id, (await a.claim_decision_id(2)).decision_id]

    assert run(work) == [1, 2]
    assert lease(standin)["metadata"]["annotations"][LAST_DECISION_ANNOTATION] == "2"


def test_a_new_leader_continues_the_ids_of_the_last(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    start(standin)
    clock_b = VirtualClock()
    a, b = election(path, "a"), election(path, "b", clock_b)

    async def work() -> int | None:
        await a.try_acquire_or_renew()
        for n in range(1, 8):
            await a.claim_decision_id(n)
        await b.try_acquire_or_renew()
        clock_b.advance(16.0)
        await b.try_acquire_or_renew()
        return (await b.claim_decision_id(1)).decision_id  # b's own count is far behind

    assert run(work) == 8


def test_a_follower_claims_nothing_and_says_who_leads(kube: Any) -> None:
    path, start = kube
    start(KubeStandIn())
    a, b = election(path, "a"), election(path, "b")

    async def work() -> Any:
        await a.try_acquire_or_renew()
        await b.try_acquire_or_renew()
        return await b.claim_decision_id(1)

    claim = run(work)
    assert (claim.decision_id, claim.outcome) == (None, "advisory")
    assert "follower: a holds lease llm/planner-leader" in claim.reason


def test_a_leader_whose_lease_was_taken_claims_nothing(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    start(standin)
    a = election(path, "a")

    async def work() -> Any:
        await a.try_acquire_or_renew()
        standin.edit(*LEASES, NS, "planner-leader", lambda o: o["spec"].update(holderIdentity="b"))
        return await a.claim_decision_id(1)

    claim = run(work)
    assert claim.decision_id is None
    assert "lost lease llm/planner-leader before applying" in claim.reason
    assert not a.is_leader()
    assert lease(standin)["metadata"]["annotations"][LAST_DECISION_ANNOTATION] == "0"  # as created


def test_release_hands_the_lease_over_at_once(kube: Any) -> None:
    path, start = kube
    start(KubeStandIn())
    a, b = election(path, "a"), election(path, "b")

    async def work() -> tuple[bool, bool]:
        await a.try_acquire_or_renew()
        await b.try_acquire_or_renew()
        await a.release()
        return a.is_leader(), await b.try_acquire_or_renew()

    assert run(work) == (False, True)


def test_an_unreachable_api_server_leaves_the_leader_unknown_and_not_ready(kube: Any) -> None:
    path, start = kube
    standin = KubeStandIn()
    standin.faults.append(Fault("GET", "leases", status=500, times=5))
    start(standin)
    a = election(path, "a")
    assert run(a.try_acquire_or_renew) is False
    assert "leader unknown: lease llm/planner-leader not read yet" in a.not_ready()[0]
    assert "HTTP 500" in a.not_ready()[0]


def test_ha_needs_the_kubernetes_environment() -> None:
    from planner.config import load_config

    with pytest.raises(ConfigError, match=r"ha\.enabled needs environment 'kubernetes'"):
        load_config(None, ["ha.enabled=true"])


def test_lease_timings_must_be_ordered() -> None:
    with pytest.raises(ValueError, match=r"retry_period_seconds \(2\) < renew_deadline_seconds \(20\)"):
        HaConfig(enabled=True, renew_deadline_seconds=20)


def _two_planners(path: Path, standin: KubeStandIn) -> tuple[list[TickRecord], list[TickRecord]]:
    records: tuple[list[TickRecord], list[TickRecord]] = ([], [])

    async def one(identity: str, out: list[TickRecord]) -> None:
        ha = {"enabled": True, "identity": identity}
        config = make_config(path, kubernetes={"targets": TARGETS}, ha=ha)
        plugin = Propose("fixed", set_targets(4, 3))
        async with Planner(config, clock=VirtualClock(), plugins=[plugin], discover=False, on_record=out.append) as p:
            await p.run(max_ticks=1)

    async def main() -> None:
        await one("a", records[0])  # leads: the lease is free
        standin.edit("apps/v1", "deployments", NS, "vllm-prefill", lambda o: o["spec"].update(replicas=2))
        await one("b", records[1])  # a released the lease on close: b leads at once

    anyio.run(main)
    return records


def test_each_planner_applies_while_it_leads_and_ids_continue(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    start(standin)
    first, second = _two_planners(path, standin)
    assert (first[0].outcome, first[0].decision_id) == ("applied", 1)
    assert (second[0].outcome, second[0].decision_id) == ("applied", 2)


def test_a_follower_planner_plans_but_applies_nothing(kube: Any) -> None:
    path, start = kube
    standin = deployment_standin()
    start(standin)
    standin.put(*LEASES, NS, {"metadata": {"name": "planner-leader"},
                              "spec": {"holderIdentity": "other", "leaseDurationSeconds": 15}})  # fmt: skip
    records: list[TickRecord] = []

    async def main() -> None:
        config = make_config(path, kubernetes={"targets": TARGETS}, ha={"enabled": True, "identity": "me"})
        plugin = Propose("fixed", set_targets(4, 3))
        async with Planner(
            config, clock=VirtualClock(), plugins=[plugin], discover=False, on_record=records.append
        ) as p:
            assert p.not_ready() == []
            await p.run(max_ticks=1)

    anyio.run(main)
    assert records[0].outcome == "advisory"
    assert records[0].decision_id is None
    assert records[0].targets is not None
    assert 4 in records[0].targets.values()
    assert "follower: other holds" in records[0].reason
    assert standin.get("apps/v1", "deployments", NS, "vllm-prefill")["spec"]["replicas"] == 2
