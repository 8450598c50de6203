"""Leader election on a `coordination.k8s.io/v1` Lease; the Lease also carries the last decision id."""

from __future__ import annotations

import copy
import datetime
import logging
import math
import socket
import uuid
from collections.abc import Callable
from typing import Any

import anyio

from ...clock import Clock
from ...config_kubernetes import HaConfig
from ..base import DecisionClaim
from ._api import KubeApi, KubeConflict, KubeError, KubeNotFound

__all__ = ["LeaseElection", "LAST_DECISION_ANNOTATION", "default_identity"]

log = logging.getLogger("planner.leader")

GROUP, VERSION, PLURAL = "coordination.k8s.io", "v1", "leases"
LAST_DECISION_ANNOTATION = "planner.ai/last-decision-id"


def default_identity() -> str:
    """Host name and a random suffix: unique even for two replicas on one host (client-go does the same)."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _micro_time(epoch_s: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_s, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _last_decision_id(lease: dict[str, Any]) -> int:
    raw = ((lease.get("metadata") or {}).get("annotations") or {}).get(LAST_DECISION_ANNOTATION)
    try:
        return max(0, int(str(raw))) if raw is not None else 0
    except ValueError:
        log.warning("lease annotation %s=%r is not an integer; ignoring it", LAST_DECISION_ANNOTATION, raw)
        return 0


class LeaseElection:
    """One replica's view of who leads, kept fresh by `run()` every `retry_period_seconds`.

    Expiry is judged as client-go does, on the local monotonic clock: a follower takes the lease only
    after seeing it unchanged for `lease_duration_seconds`, so clock skew between replicas does not
    matter. A leader counts itself leader only until `renew_deadline_seconds` after its last successful
    write, which is shorter, so two replicas never both believe they lead. Every write is guarded by the
    resourceVersion read before it; a decision id is claimed by writing it to the Lease, so a leader that
    lost the Lease cannot claim one, and ids keep growing across leaders and restarts.
    """

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        settings: HaConfig,
        clock: Clock,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.api, self.namespace, self.settings, self.clock = api, namespace, settings, clock
        self.identity = settings.identity or default_identity()
        self.on_change = on_change
        self.last_decision_id = 0
        self.error: str | None = None  # why the last attempt could not reach the lease
        self._lease: dict[str, Any] | None = None  # as last read or written
        self._observed_version = ""
        self._observed_at = -math.inf
        self._renewed_at = -math.inf
        self._leading = False  # as of the last round or claim; `is_leader()` also checks the renewal is fresh
        self._announced = False  # what `on_change` was last told
        self._lock = anyio.Lock()

    @property
    def label(self) -> str:
        return f"lease {self.namespace}/{self.settings.lease_name}"

    @property
    def known(self) -> bool:
        """Whether the lease has been read (or made) at least once."""
        return self._lease is not None

    @property
    def holder(self) -> str | None:
        """Who holds the lease, as last seen."""
        return ((self._lease or {}).get("spec") or {}).get("holderIdentity") or None

    def is_leader(self) -> bool:
        return self._leading and self.clock.monotonic() < self._renewed_at + self.settings.renew_deadline_seconds

    def not_ready(self) -> list[str]:
        if self.known:
            return []
        return [f"leader unknown: {self.label} not read yet" + (f" ({self.error})" if self.error else "")]

    async def run(self) -> None:
        """Renew (as leader) or try to acquire (as follower) every retry period, until cancelled."""
        while True:
            await self.try_acquire_or_renew()
            await self.clock.sleep_until(self.clock.monotonic() + self.settings.retry_period_seconds)

    async def try_acquire_or_renew(self) -> bool:
        """One round of the election; True if this replica leads afterwards."""
        async with self._lock:
            try:
                await self._round()
            except KubeError as exc:
                self.error = str(exc)
                log.warning("%s: %s", self.label, exc)
            leading = self.is_leader()
            self._set_leading(leading)
            return leading

    async def _round(self) -> None:
        started = self.clock.monotonic()
        try:
            lease = await self._read()
        except KubeNotFound:
            await self._create(started)
            return
        self._observe(lease, started)
        holder = self.holder
        duration = float((lease.get("spec") or {}).get("leaseDurationSeconds") or self.settings.lease_duration_seconds)
        if holder not in (None, self.identity) and started < self._observed_at + duration:
            self.error = None
            self._leading = False
            return
        try:
            await self._write(self._renewed(lease, holder), started)
        except KubeConflict:  # another replica wrote first: it leads, or will say so on the next read
            self._leading = False

    async def claim_decision_id(self, at_least: int) -> DecisionClaim:
        """Write the next decision id onto the Lease; only a leader whose write lands may apply it."""
        async with self._lock:
            if not self.is_leader() or self._lease is None:
                self._set_leading(False)
                if self.holder == self.identity:  # ours on the server, but not renewed in time: not safe to act
                    why = f"{self.label} not renewed for {self.settings.renew_deadline_seconds:g} s; not applying"
                    return DecisionClaim(None, "advisory", why)
                who = self.holder or "nobody yet"
                return DecisionClaim(None, "advisory", f"follower: {who} holds {self.label}; not applying")
            decision_id = max(at_least, self.last_decision_id + 1)
            lease = self._renewed(self._lease, self.identity)
            lease["metadata"].setdefault("annotations", {})[LAST_DECISION_ANNOTATION] = str(decision_id)
            try:
                await self._write(lease, self.clock.monotonic())
            except KubeConflict as exc:
                self._leading = False
                self._set_leading(False)
                return DecisionClaim(None, "advisory", f"lost {self.label} before applying: {exc}")
            except KubeError as exc:
                why = f"could not record decision {decision_id} on the lease: {exc}"
                return DecisionClaim(None, "apply_failed", why)
            return DecisionClaim(decision_id, "applied", "")

    async def release(self) -> None:
        """Hand the lease back on shutdown, so a follower takes over at once rather than after expiry."""
        async with self._lock:
            if not self.is_leader() or self._lease is None:
                return
            lease = copy.deepcopy(self._lease)
            lease["spec"].update(holderIdentity="", leaseDurationSeconds=1, renewTime=_micro_time(self.clock.now()))
            try:
                await self._write(lease, self.clock.monotonic())
            except KubeError as exc:
                log.warning("%s: could not release it: %s (a follower takes over when it expires)", self.label, exc)
            self._leading = False
            self._set_leading(False)

    # -- the Lease object -------------------------------------------------------------------------
    async def _read(self) -> dict[str, Any]:
        return await self.api.call(
            f"reading {self.label}", self.api.custom.get_namespaced_custom_object,
            GROUP, VERSION, self.namespace, PLURAL, self.settings.lease_name,
        )  # fmt: skip

    async def _create(self, started: float) -> None:
        now = _micro_time(self.clock.now())
        body = {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Lease",
            "metadata": {"name": self.settings.lease_name, "namespace": self.namespace,
                         "annotations": {LAST_DECISION_ANNOTATION: str(self.last_decision_id)}},
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self._duration(),
                     "acquireTime": now, "renewTime": now, "leaseTransitions": 0},
        }  # fmt: skip
        try:
            created = await self.api.call(
                f"creating {self.label}", self.api.custom.create_namespaced_custom_object,
                GROUP, VERSION, self.namespace, PLURAL, body,
            )  # fmt: skip
        except KubeConflict:  # created by another replica meanwhile; the next round reads it
            return
        self._accept(created, started)

    def _renewed(self, lease: dict[str, Any], holder: str | None) -> dict[str, Any]:
        """`lease` held by this replica, renewed now; a change of holder counts a transition."""
        lease = copy.deepcopy(lease)
        spec = lease.setdefault("spec", {})
        now = _micro_time(self.clock.now())
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=self._duration(), renewTime=now)
        return lease

    async def _write(self, lease: dict[str, Any], started: float) -> None:
        written = await self.api.call(
            f"updating {self.label}", self.api.custom.replace_namespaced_custom_object,
            GROUP, VERSION, self.namespace, PLURAL, self.settings.lease_name, lease,
        )  # fmt: skip
        self._accept(written, started)

    def _accept(self, lease: dict[str, Any], started: float) -> None:
        """A write of ours landed: this replica holds the lease as of `started`."""
        self._observe(lease, started)
        self._renewed_at = started
        self._leading = (lease.get("spec") or {}).get("holderIdentity") == self.identity
        self.error = None

    def _observe(self, lease: dict[str, Any], at: float) -> None:
        self._lease = lease
        self.last_decision_id = max(self.last_decision_id, _last_decision_id(lease))
        version = str((lease.get("metadata") or {}).get("resourceVersion", ""))
        if version != self._observed_version:
            self._observed_version, self._observed_at = version, at

    def _duration(self) -> int:
        return max(1, math.ceil(self.settings.lease_duration_seconds))

    def _set_leading(self, leading: bool) -> None:
        if leading == self._announced:
            return
        self._announced = leading
        if leading:
            log.info("%s: %s is the leader (last decision id %d)", self.label, self.identity, self.last_decision_id)
        else:
            log.info("%s: %s follows (leader: %s)", self.label, self.identity, self.holder or "none")
        if self.on_change is not None:
            self.on_change(leading)
