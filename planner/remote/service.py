"""The PluginRegistry service: Register, Heartbeat (leases), Unregister, ListPlugins; eviction."""

from __future__ import annotations

import logging
import re
from collections import deque
from typing import TYPE_CHECKING, Any

import grpc

from planner_sdk import PluginDeclarationError, PluginSpec
from planner_sdk import _wire as wire
from planner_sdk._grpc import registry_grpc as rgrpc
from planner_sdk._proto.planner.v1 import registry_pb2 as rpb

from ..config_sections import is_local_endpoint
from ..registry import BUILTIN_ID_PREFIX, RegisteredPlugin
from .auth import Authenticator
from .transport import RemoteTransport

if TYPE_CHECKING:
    from ..daemon import Planner

__all__ = ["RegistryService", "ENDPOINT_PATTERN"]

log = logging.getLogger("planner.remote")

ENDPOINT_PATTERN = re.compile(r"^(unix://.+|\[[0-9a-fA-F:]+\]:\d{1,5}|[^\s:/]+:\d{1,5})$")
REMOTE = "remote"
STATIC = "static"


class RegistryService(rgrpc.PluginRegistryServicer):  # type: ignore[misc]  # the generated base is untyped
    """Admits remote plugins into the planner's registry and keeps their leases."""

    def __init__(
        self, planner: Planner, auth: Authenticator, plugin_credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        self.planner = planner
        self.settings = planner.config.plugin_registration
        self.auth = auth
        self.plugin_credentials = plugin_credentials  # TLS towards plugins on TCP endpoints
        # Leases, heartbeats, rate limits and circuits concern real processes: wall time, whatever
        # pace the planner's clock keeps for a simulation.
        self.clock = planner.clock.unscaled()
        self.leases: dict[str, float] = {}
        self._registrations: deque[float] = deque()

    # -- admission ------------------------------------------------------------------------------

    def _refuse(self, reason: str) -> rpb.RegisterResponse:
        return rpb.RegisterResponse(accepted=False, reason=reason)

    async def admit(self, spec: PluginSpec, endpoint: str, identity: str, version: str, source: str) -> str | None:
        """Register a remote plugin; the refusal reason, or None when admitted."""
        if not ENDPOINT_PATTERN.match(endpoint):
            return "invalid_declaration: endpoint"
        if self.plugin_credentials is None and not self.settings.allow_insecure and not is_local_endpoint(endpoint):
            # The planner's calls carry the whole tick context: never in plaintext across a network.
            return "insecure_endpoint: the planner has no plugin_tls to call a remote TCP endpoint with"
        registry = self.planner.registry
        existing = registry.get(spec.id)
        if spec.id.startswith(BUILTIN_ID_PREFIX) or (existing is not None and existing.source not in (REMOTE, STATIC)):
            return "reserved_id"
        if existing is not None and existing.identity != identity and self.auth.still_valid(existing.identity or ""):
            return "duplicate_id"  # (a plugin whose token was rotated out comes back under its new one)
        remote_count = sum(1 for e in registry if e.source in (REMOTE, STATIC))
        if existing is None and remote_count >= self.settings.max_plugins:
            return "too_many_plugins"
        if existing is not None:  # the same plugin, restarted: replace its old registration (and close its channel)
            await self._close(self._drop(existing.id, "re-registered"))
        transport = RemoteTransport(spec, endpoint, self.settings.max_message_bytes, self.plugin_credentials)
        entry = self.planner.add_transport(transport, source=source)
        entry.endpoint, entry.identity, entry.plugin_version = endpoint, identity, version
        if source == REMOTE:
            self.leases[spec.id] = self.clock.monotonic() + self.settings.lease
        log.info("plugin %s registered from %s (%s, stage %s)", spec.id, endpoint, source, spec.stage.value,
                 extra={"plugin_id": spec.id})  # fmt: skip
        return None

    def _rate_limited(self) -> bool:
        now = self.clock.monotonic()
        while self._registrations and now - self._registrations[0] > 60.0:
            self._registrations.popleft()
        if len(self._registrations) >= self.settings.registrations_per_minute:
            return True
        self._registrations.append(now)
        return False

    async def Register(self, request: rpb.RegisterRequest, context: Any) -> rpb.RegisterResponse:
        identity = self.auth.identify(context)
        if identity is None:  # say who tried, never with what: the credentials stay out of the log
            log.warning(
                "registration of %r from %s refused: unauthenticated", request.declaration.id[:64], context.peer()
            )
            return self._refuse("unauthenticated")
        if wire.PROTOCOL_VERSION not in request.protocol_versions:
            return self._refuse("protocol_version_unsupported")
        if self._rate_limited():
            return self._refuse("rate_limited")
        try:
            spec = wire.declaration_from_proto(request.declaration)
        except PluginDeclarationError as exc:
            return self._refuse(str(exc))
        refused = await self.admit(spec, request.endpoint, identity, request.plugin_version, REMOTE)
        if refused is not None:
            log.warning("plugin %r refused: %s", spec.id, refused, extra={"plugin_id": spec.id})
            return self._refuse(refused)
        base = self.planner.scheduler.base
        return rpb.RegisterResponse(
            accepted=True,
            protocol_version=wire.PROTOCOL_VERSION,
            heartbeat_interval_seconds=self.settings.heartbeat_interval_seconds,
            lease_seconds=self.settings.lease,
            base_cadence_seconds=float(base) if base is not None else 0.0,
        )

    # -- liveness -------------------------------------------------------------------------------

    async def _owned(self, plugin_id: str, context: Any) -> RegisteredPlugin | None:
        """The plugin's entry if it is remote; aborts when the caller is not who registered it."""
        entry = self.planner.registry.get(plugin_id)
        if entry is None or entry.source != REMOTE:
            return None
        if self.auth.identify(context) != entry.identity:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only the identity that registered it may do this")
        return entry

    async def Heartbeat(self, request: rpb.HeartbeatRequest, context: Any) -> rpb.HeartbeatResponse:
        if await self._owned(request.plugin_id, context) is None:
            return rpb.HeartbeatResponse(known=False)
        self.leases[request.plugin_id] = self.clock.monotonic() + self.settings.lease
        return rpb.HeartbeatResponse(known=True, lease_seconds=self.settings.lease)

    async def Unregister(self, request: rpb.UnregisterRequest, context: Any) -> rpb.UnregisterResponse:
        if await self._owned(request.plugin_id, context) is None:
            return rpb.UnregisterResponse(removed=False)
        await self._close(self._drop(request.plugin_id, "unregistered"))
        return rpb.UnregisterResponse(removed=True)

    def _drop(self, plugin_id: str, why: str) -> RegisteredPlugin | None:
        self.leases.pop(plugin_id, None)
        entry = self.planner.registry.remove(plugin_id)
        if entry is not None:
            log.info("plugin %s %s", plugin_id, why, extra={"plugin_id": plugin_id})
        return entry

    @staticmethod
    async def _close(entry: RegisteredPlugin | None) -> None:
        if entry is not None:
            await entry.transport.aclose()

    async def evict_expired(self) -> list[str]:
        """Evict every remote plugin whose lease has run out (its held result goes with it)."""
        now = self.clock.monotonic()
        expired = [plugin_id for plugin_id, until in self.leases.items() if until < now]
        for plugin_id in expired:
            log.warning("plugin %s evicted: no heartbeat for %.1f s", plugin_id, self.settings.lease,
                            extra={"plugin_id": plugin_id})  # fmt: skip
            await self._close(self._drop(plugin_id, "evicted"))
        return expired

    async def evict_forever(self) -> None:
        clock = self.clock
        while True:
            await clock.sleep_until(clock.monotonic() + self.settings.heartbeat_interval_seconds / 4)
            await self.evict_expired()

    # -- introspection --------------------------------------------------------------------------

    async def ListPlugins(self, request: rpb.ListPluginsRequest, context: Any) -> rpb.ListPluginsResponse:
        now = self.clock.monotonic()
        statuses = []
        for entry in sorted(self.planner.registry, key=lambda e: (e.spec.stage.value, e.spec.priority, e.id)):
            status = rpb.PluginStatus(
                declaration=wire.declaration_to_proto(entry.spec), endpoint=entry.endpoint or "in-process",
                source=entry.source, circuit=entry.circuit(now), last_error=entry.last_error or "",
                plugin_version=entry.plugin_version,
            )  # fmt: skip
            if entry.last_latency_ms is not None:
                status.last_latency_ms = entry.last_latency_ms
            statuses.append(status)
        base = self.planner.scheduler.base
        return rpb.ListPluginsResponse(plugins=statuses, base_cadence_seconds=float(base) if base else 0.0)
