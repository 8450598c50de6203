"""KubernetesConnector: read and set replicas per role on a Dynamo graph or any `/scale` target."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

from planner_plugins.observe import WorkerEndpoint
from planner_sdk import Decision, ReplicaCount, Role

from ...clock import Clock
from ...config import PlannerConfig
from ...errors import ConnectorError
from ._api import SERVICE_ACCOUNT_NAMESPACE, KubeApi, KubeConflict, KubeError, KubeUnavailable, load_api_client
from ._pods import WorkerPod, deletion_cost, list_worker_pods, set_deletion_costs
from ._resolve import resolve_dgd_targets, resolve_scale_targets
from ._targets import ScaleSubresourceTarget, ScaleTarget

__all__ = ["KubernetesConnector", "resolve_namespace"]

log = logging.getLogger("planner.kubernetes")

_BACKOFF_CAP_S = 60.0
_POLL_S = 2.0


def resolve_namespace(configured: str | None) -> str:
    """`namespace`, else the service account's (in-cluster)."""
    if configured:
        return configured
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
    except OSError:
        raise ConnectorError(
            f"namespace: not set, and no service account namespace at {SERVICE_ACCOUNT_NAMESPACE} "
            "(set `namespace` when the planner runs outside the cluster)"
        ) from None


class KubernetesConnector:
    """Scales one deployment's roles with the official client.

    Writes are guarded by the resourceVersion (or a JSON-patch `test`) read just before, so a
    concurrent edit yields a conflict: re-read and retry. A replica count someone else set (kubectl
    scale, a GitOps sync) differs from what the planner last applied: it is respected for
    `kubernetes.manual_override_hold_seconds`, and said so. 5xx and timeouts back off, exponentially
    up to a minute; each tick that fails says `apply_failed`, and a later tick retries under a new id.

    With `kubernetes.workers`, the engine pods are found by label (`worker_endpoints`, for scraping),
    and before a Deployment is scaled down each of its pods is given a deletion cost equal to its
    requests in flight (from `in_flight`), so the ReplicaSet stops the least busy engines.
    """

    def __init__(self, config: PlannerConfig, clock: Clock, api: KubeApi | None = None) -> None:
        self.config = config
        self.settings = config.kubernetes
        self.clock = clock
        self._api = api
        self.namespace = ""
        self.targets: dict[Role, ScaleTarget] = {}
        self._last_id = 0
        self._applied: dict[Role, int] = {}
        self._held: dict[Role, tuple[int, float]] = {}  # value someone else set, held until (monotonic)
        self._failures = 0
        self._backoff_until = -math.inf
        self._last_failure = ""
        self.workers = self.settings.workers.for_roles(config.roles)
        self.in_flight: Callable[[], Mapping[str, float | None]] | None = None  # worker id -> requests
        self._pods: dict[Role, tuple[float, list[WorkerPod]]] = {}  # listed at (monotonic)

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            raise ConnectorError("the Kubernetes connector is not started")
        return self._api

    async def start(self) -> None:
        """Load credentials, find the targets, check they can be read; errors name the setting."""
        self.namespace = resolve_namespace(self.config.namespace)
        if self._api is None:
            client = load_api_client(self.settings.kubeconfig, self.settings.context)
            self._api = KubeApi(client, self.clock, self.settings.request_timeout_seconds)
        roles = self.config.roles
        refs = self.settings.targets.for_roles(roles)
        if refs:
            self.targets = await resolve_scale_targets(self.api, self.namespace, refs)
        else:
            dgd = self.settings.dgd_name
            assert dgd is not None, "validated: environment kubernetes needs dgd_name or targets"
            self.targets = await resolve_dgd_targets(self.api, self.namespace, dgd, roles, self.config.backend)
        log.info(
            "kubernetes: namespace %s, %s",
            self.namespace, ", ".join(f"{r.value} -> {t.label}" for r, t in self.targets.items()),
        )  # fmt: skip

    async def gpus_per_engine(self) -> dict[Role, int]:
        """GPUs per engine read from each target's pod template, where it states them."""
        found: dict[Role, int] = {}
        for role, target in self.targets.items():
            count = await target.gpus_per_engine()
            if count:
                found[role] = count
        return found

    async def worker_pods(self, role: Role, *, fresh: bool = False) -> list[WorkerPod]:
        """The role's pods by its label selector, re-listed after `worker_discovery_refresh_seconds`."""
        now = self.clock.monotonic()
        cached = self._pods.get(role)
        if fresh or cached is None or now - cached[0] >= self.settings.worker_discovery_refresh_seconds:
            pods = await list_worker_pods(self.api, self.namespace, self.workers[role].label_selector)
            cached = self._pods[role] = (now, pods)
        return cached[1]

    async def worker_endpoints(self) -> list[WorkerEndpoint]:
        """Where each ready engine pod serves its metrics; builtin_worker_metrics scrapes them each tick."""
        endpoints = []
        for role, spec in self.workers.items():
            for pod in await self.worker_pods(role):
                if pod.ready and pod.ip:
                    host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
                    endpoints.append(
                        WorkerEndpoint(pod.name, role, f"{spec.scheme}://{host}:{spec.metrics_port}{spec.metrics_path}")
                    )
        return endpoints

    async def _mark_victims(self, role: Role, target: ScaleTarget) -> str | None:
        """Before a scale-down: deletion costs from the latest in-flight counts (say why if not)."""
        if self.in_flight is None or role not in self.workers:
            return None
        if not (
            isinstance(target, ScaleSubresourceTarget) and (target.group, target.plural) == ("apps", "deployments")
        ):
            return None  # only a ReplicaSet honours pod-deletion-cost
        loads = self.in_flight()
        try:
            pods = await self.worker_pods(role, fresh=True)
            await set_deletion_costs(self.api, self.namespace, {p.name: deletion_cost(loads.get(p.name)) for p in pods})
        except KubeError as exc:  # the scale-down goes ahead; the controller picks the victims itself
            return f"{role.value}: pod deletion costs not set ({exc}); the ReplicaSet chooses which engines stop"
        return None

    def forget_applied(self) -> None:
        """Leadership changed: replicas another leader set are not someone else's override."""
        self._applied.clear()
        self._held.clear()

    def _note_desired(self, role: Role, desired: int) -> None:
        """Someone else changed the replicas if they differ from what the planner last applied."""
        applied = self._applied.get(role)
        held = self._held.get(role)
        if applied is None or desired == applied or (held is not None and held[0] == desired):
            return
        until = self.clock.monotonic() + self.settings.manual_override_hold_seconds
        self._held[role] = (desired, until)
        log.warning(
            "kubernetes: %s set to %d by someone else (the planner applied %d): holding it for %g s",
            role.value, desired, applied, self.settings.manual_override_hold_seconds,
        )  # fmt: skip

    async def current_replicas(self) -> Mapping[Role, ReplicaCount]:
        counts: dict[Role, ReplicaCount] = {}
        for role, target in self.targets.items():
            state = await target.read()
            if state.rollout_failed:
                raise ConnectorError(f"{role.value} ({target.label}): {state.rollout_failed}")
            self._note_desired(role, state.desired)
            counts[role] = ReplicaCount(ready=state.ready, expected=state.desired)
        return counts

    def held_reason(self, role: Role) -> str | None:
        held = self._held.get(role)
        if held is None:
            return None
        left = held[1] - self.clock.monotonic()
        if left <= 0:
            del self._held[role]
            return None
        return (
            f"manual_override: {role.value} was set to {held[0]} outside the planner; "
            f"respected for another {left:.0f} s"
        )

    async def apply(self, decision: Decision) -> Sequence[str]:
        """Set each role's replicas; returns why any role was left alone. Never applies an id twice."""
        if decision.decision_id <= self._last_id:
            return ()
        now = self.clock.monotonic()
        if now < self._backoff_until:
            raise KubeUnavailable(
                f"backing off for another {self._backoff_until - now:.0f} s after: {self._last_failure}"
            )
        self._last_id = decision.decision_id
        notes: list[str] = []
        try:
            for role, replicas in decision.targets.items():
                note = await self._scale_role(role, replicas)
                if note:
                    notes.append(note)
        except KubeUnavailable as exc:
            self._failures += 1
            delay = min(_BACKOFF_CAP_S, self.settings.backoff_seconds * 2 ** (self._failures - 1))
            self._backoff_until, self._last_failure = now + delay, str(exc)
            raise
        self._failures = 0
        return notes

    async def _scale_role(self, role: Role, replicas: int) -> str | None:
        target = self.targets.get(role)
        if target is None:
            raise ConnectorError(f"decision names {role.value}, which this deployment does not scale")
        attempt, marked, note = 0, False, None
        while True:
            state = await target.read()
            self._note_desired(role, state.desired)
            held = self.held_reason(role)
            if held is not None:
                return f"{held}; not applying {replicas}"
            if state.desired == replicas:
                self._applied[role] = replicas
                return None
            if replicas < state.desired and not marked:  # once: a conflict retry reuses the costs just set
                note, marked = await self._mark_victims(role, target), True
            try:
                await target.scale(replicas, state)
            except KubeConflict as exc:
                attempt += 1
                if attempt > self.settings.conflict_retries:
                    raise ConnectorError(f"{exc} (still conflicting after {attempt} tries)") from None
                log.info("kubernetes: %s (re-reading and retrying)", exc)
                continue
            self._applied[role] = replicas
            return note

    async def wait_ready(self, deadline: float) -> bool:
        while True:
            counts = await self.current_replicas()
            if all(c.ready == c.expected for c in counts.values()):
                return True
            if self.clock.monotonic() >= deadline:
                return False
            await self.clock.sleep_until(min(deadline, self.clock.monotonic() + _POLL_S))

    async def aclose(self) -> None:
        if self._api is not None:
            self._api.close()
