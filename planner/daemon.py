"""The planner daemon as an async context manager: plugins, scheduler, pipeline, connector."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from planner_plugins.builtins import worker_metrics_plugin
from planner_plugins.observe import in_flight
from planner_sdk import Plugin, Role, Stage

from .clock import Clock, WallClock
from .config import PlannerConfig
from .connectors.base import Connector
from .errors import ConfigError, ConnectorError, PlannerError
from .loading import FoundPlugin, discover_plugins
from .observability.history import History, snapshot_of
from .observability.metrics import PlannerMetrics
from .observability.periodic import PeriodicReports
from .observability.tracing import TickTracer
from .observability.tracing import tracer_provider as tracer_provider_for
from .pipeline.decision_ids import DecisionIdStore
from .pipeline.record import DecisionRecorder, TickRecord
from .pipeline.tick import TickPipeline, planner_view
from .registry import PluginRegistry, RegisteredPlugin
from .remote.server import RegistryServer
from .scheduling.cadence import base_cadence
from .scheduling.scheduler import SchedulerStats, TickScheduler
from .sim.world import SimulatedDeployment, embedded_trace
from .transport import InProcessTransport, PluginTransport

if TYPE_CHECKING:  # the Kubernetes client loads only for a planner that uses it (start-up time)
    from opentelemetry.sdk.trace import TracerProvider

    from .connectors.kubernetes import KubernetesConnector, LeaseElection

__all__ = ["Planner", "planned_base_cadence"]

log = logging.getLogger("planner")


class Planner:
    """Owns one deployment's planning loop. Use as `async with Planner(config) as planner:`.

    `connector` defaults to what `config.environment` names; `plugins` adds plugin objects
    beside those found through entry points and config (tests and embedding use it).
    """

    def __init__(
        self,
        config: PlannerConfig,
        *,
        clock: Clock | None = None,
        connector: Connector | None = None,
        plugins: Sequence[Plugin] = (),
        discover: bool = True,
        on_record: Callable[[TickRecord], None] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.config = config
        # A provider passed in is the caller's to shut down; one built from `tracing` is ours.
        self._own_provider = tracer_provider is None
        provider = tracer_provider if tracer_provider is not None else tracer_provider_for(config.tracing)
        self.tracer = TickTracer(provider)
        self.clock: Clock = clock or WallClock()
        self.world: SimulatedDeployment | None = None
        if connector is None:
            if config.environment == "kubernetes":
                from .connectors.kubernetes import KubernetesConnector

                connector = KubernetesConnector(config, self.clock)
            elif config.environment == "embedded":
                self.world = SimulatedDeployment(config, self.clock, embedded_trace(config))
                connector = self.world.connector
            else:
                raise ConfigError(
                    [
                        f"environment: {config.environment!r} has no connector in this build yet; "
                        "use 'embedded' or 'kubernetes', or pass a connector"
                    ]
                )
        self.connector = connector
        self.registry = PluginRegistry()
        self._extra = list(plugins)
        self._found: list[FoundPlugin] = []  # plugins the deployment called for (worker discovery)
        self._discover = discover
        self._on_record = on_record
        self._recorder: DecisionRecorder | None = None
        self.pipeline = TickPipeline(config, self.registry, connector, self.clock, self._record, self.tracer)
        self.scheduler = TickScheduler(
            self.clock, self.registry, config.scheduling.scale_interval_seconds, self.pipeline.run_tick
        )
        self.last_record: TickRecord | None = None
        self.remote: RegistryServer | None = None
        self.election: LeaseElection | None = None
        self.metrics = PlannerMetrics(config, self.registry, self._leading, self.clock.unscaled().monotonic)
        # Only a report or the dashboard reads the history: without either, keep none (memory, time).
        watched = config.report_interval_hours is not None or config.live_dashboard_port != 0
        self.history = History() if watched else History(keep=0)
        self.reports = (
            PeriodicReports(config, self.history, self.clock) if config.report_interval_hours is not None else None
        )
        self._closed = False
        self._entered = False

    async def __aenter__(self) -> Planner:
        try:
            kubernetes = _kubernetes_connector(self.connector)
            if kubernetes is not None:
                await self._start_kubernetes(kubernetes)
            if self.config.ha.enabled:
                await self._start_election()
            for level, message in self.config.notices():
                log.log(logging.WARNING if level == "warning" else logging.INFO, "config: %s", message)
            self._register_all()
            registration = self.config.plugin_registration
            if registration.endpoints or registration.static_plugins:
                self.remote = RegistryServer(self)
                await self.remote.register_static(registration.static_plugins)
                if registration.endpoints:
                    await self.remote.start()
            if len(self.registry):
                base_cadence(self.registry.intervals(), self.config.scheduling.scale_interval_seconds)
            if self.config.decision_record_path:
                self._recorder = DecisionRecorder(self.config.decision_record_path)
                ids = DecisionIdStore(self.config.decision_record_path)
                self.pipeline.last_decision_id = max(self.pipeline.last_decision_id, ids.load())
                self.pipeline.on_decision_id = ids.save
            self._entered = True
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _start_kubernetes(self, connector: KubernetesConnector) -> None:
        """Find and check the targets; take GPUs per engine from them where the config is silent."""
        try:
            await connector.start()
            found = await connector.gpus_per_engine()
        except ConnectorError as exc:
            raise ConfigError([str(exc)]) from None
        fields = {Role.PREFILL: "prefill_engine_num_gpu", Role.DECODE: "decode_engine_num_gpu"}
        updates: dict[str, int] = {}
        for role, gpus in found.items():
            name = fields.get(role, "decode_engine_num_gpu")
            if name in self.config.model_fields_set:
                if getattr(self.config, name) != gpus:
                    log.warning(
                        "%s=%d, but the %s pods ask for %d GPU(s)", name, getattr(self.config, name), role, gpus
                    )
            else:
                updates[name] = gpus
        if updates:
            log.info("GPUs per engine from the deployment: %s", updates)
            self.config = self.config.model_copy(update=updates)
            self.pipeline.reconfigure(self.config)
            self.metrics.config = self.config
        if connector.workers and "builtin_worker_metrics" not in self.config.disabled_plugins:
            scraper = worker_metrics_plugin(self.pipeline.view.settings, discover=connector.worker_endpoints)
            connector.in_flight = lambda: {worker: in_flight(load) for worker, load in scraper.latest.items()}
            self._found.append(FoundPlugin(scraper, "builtin"))

    async def _start_election(self) -> None:
        """Join the election; the first round runs now, so a lone replica leads from its first tick."""
        connector = _kubernetes_connector(self.connector)
        if connector is None:
            raise ConfigError(["ha.enabled: leader election needs the Kubernetes connector (environment kubernetes)"])

        def changed(leading: bool) -> None:
            connector.forget_applied()  # what another leader applied is not a manual override

        from .connectors.kubernetes import LeaseElection

        self.election = LeaseElection(connector.api, connector.namespace, self.config.ha, self.clock, changed)
        await self.election.try_acquire_or_renew()
        self.pipeline.leadership = self.election

    def _register_all(self) -> None:
        found = list(self._found)
        if self._discover:
            found += discover_plugins(self.config, self.pipeline.view.settings)
        if self.world is not None:
            found += [FoundPlugin(p, "embedded") for p in self.world.plugins]
        found += [FoundPlugin(p, "api") for p in self._extra]
        for item in found:
            self.add_transport(InProcessTransport(item.plugin, self.clock), source=item.source)

    def add_transport(self, transport: PluginTransport, *, source: str) -> RegisteredPlugin:
        """Register a plugin behind any transport; it is first due on the next slot."""
        return self.registry.add(
            transport,
            source=source,
            timeout_seconds=self.config.plugin_registration.transport.request_timeout_seconds,
            anchor=self.scheduler.offset_now(),
        )

    async def run(self, *, max_ticks: int | None = None) -> SchedulerStats:
        """Tick until `stop()` (or `max_ticks`); the first tick starts at once."""
        if self._closed:
            raise PlannerError("this planner is closed")
        if self.remote is None and self.election is None and self.reports is None:
            return await self.scheduler.run(max_ticks=max_ticks)
        async with anyio.create_task_group() as group:
            if self.reports is not None:
                group.start_soon(self.reports.run)
            if self.remote is not None:
                group.start_soon(self.remote.service.evict_forever)
            if self.election is not None:
                group.start_soon(self.election.run)
            stats = await self.scheduler.run(max_ticks=max_ticks)
            group.cancel_scope.cancel()
        return stats

    def not_ready(self) -> list[str]:
        """Why the planner is not ready to serve its purpose (empty: ready), for /readyz."""
        reasons = []
        if not self._entered or self._closed:
            reasons.append("not started" if not self._closed else "stopped")
        if self.pipeline.connector_error is not None:
            reasons.append(f"deployment unreachable: {self.pipeline.connector_error}")
        if self.election is not None:
            reasons += self.election.not_ready()
        return reasons

    def stop(self) -> None:
        """Let the tick in flight finish, then return from `run`. Safe to call any number of times."""
        self.scheduler.request_stop()

    async def aclose(self) -> None:
        """Close plugins, connector and record. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        for entry in self.registry:
            try:
                await entry.transport.aclose()
            except Exception as exc:  # one plugin failing to close must not keep the others open
                log.warning("plugin %s failed to close: %s", entry.id, exc)
        if self.remote is not None:
            await self.remote.stop()
        if self.election is not None:
            await self.election.release()
        await self.connector.aclose()
        if self._recorder is not None:
            self._recorder.close()
        if self.reports is not None:
            self.reports.write_now()  # the ticks since the last report, so a stop loses none
        if self._own_provider and self.tracer.provider is not None:
            # Flushes what is batched; an exporter that cannot reach its endpoint gives up in seconds.
            await anyio.to_thread.run_sync(self.tracer.provider.shutdown)

    def _leading(self) -> bool | None:
        """Whether this replica leads; None without leader election (it acts alone)."""
        return self.election.is_leader() if self.election is not None else None

    def _record(self, record: TickRecord) -> None:
        self.last_record = record
        if self.scheduler.stats.jitter_seconds and record.tick_id == self.scheduler.stats.ticks:
            record.start_lag_ms = self.scheduler.stats.jitter_seconds[-1] * 1000.0
        self.metrics.observe_record(record)
        if self.history.keep:
            self.history.add(snapshot_of(record, self.config))
        if self._recorder is not None:
            self._recorder.write(record)
        ids = {"tick_id": record.tick_id, "decision_id": record.decision_id, "outcome": record.outcome}
        if any(cut.reason == "budget_capped" for cut in record.cuts):
            log.warning(record.summary(), extra=ids)  # the fleet the targets need is not allowed: say it loudly
        elif record.changed or record.cuts or record.outcome in (
            "skipped_timeout", "skipped_error", "skipped_rejected", "apply_failed"
        ):  # fmt: skip
            log.info(record.summary(), extra=ids)
        if self._on_record is not None:
            self._on_record(record)


def _kubernetes_connector(connector: Connector) -> KubernetesConnector | None:
    """The connector if it is the Kubernetes one; its module is loaded only by a planner that made
    or was given one, so a planner without it need not import the client to ask."""
    if "planner.connectors.kubernetes.connector" not in sys.modules:
        return None
    from .connectors.kubernetes.connector import KubernetesConnector

    return connector if isinstance(connector, KubernetesConnector) else None


def planned_base_cadence(config: PlannerConfig) -> float | None:
    """The base cadence a planner with this config starts at: `scheduling.scale_interval_seconds`,
    else the gcd of its enabled plugins' intervals (builtins, configured and static ones, and the
    simulated deployment's observer when embedded); None when no plugin is enabled. Plugins that
    register later over gRPC move it at run time."""
    intervals = {
        found.plugin.spec.id: found.plugin.spec.execution_interval_seconds
        for found in discover_plugins(config, planner_view(config).settings)
        if found.plugin.spec.stage is not Stage.APPLY
    }
    intervals |= {p.id: p.execution_interval_seconds for p in config.plugin_registration.static_plugins
                  if p.stage != "apply"}  # fmt: skip
    if config.environment == "embedded":
        intervals["sim_observe"] = config.observe_interval_effective
    explicit = config.scheduling.scale_interval_seconds
    if not intervals and explicit is None:
        return None
    return float(base_cadence(intervals, explicit))
