"""The planner's own Prometheus metrics (`planner_*`, after Dynamo's `dynamo_planner_*`), fed by tick records."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from planner_sdk import Role

from ..config import PlannerConfig
from ..http_server import Route, prometheus_route
from ..pipeline.invoke import ERROR_KINDS
from ..pipeline.record import TickRecord
from ..registry import PluginRegistry
from .history import decided_by, fleet_gpus, observed_quantities, predicted_quantities, proposal_estimates

if TYPE_CHECKING:
    from planner_plugins.perf import PerfModel

log = logging.getLogger("planner")

__all__ = ["PlannerMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PlannerMetrics:
    """One registry per planner (so two planners in a process never share series)."""

    def __init__(
        self,
        config: PlannerConfig,
        registry: PluginRegistry,
        is_leader: Callable[[], bool | None],
        wall_time: Callable[[], float] | None = None,
    ) -> None:
        self.config, self.plugins, self.is_leader = config, registry, is_leader
        self.wall_time = wall_time  # the clock circuit breakers run on (wall seconds)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.replicas = Gauge(
            "planner_replicas", "Engines per role: ready, expected (asked of the deployment), recommended "
            "(this tick's target) and applied (last applied target).", ["role", "state"], registry=r,
        )  # fmt: skip
        self.observed = Gauge(
            "planner_observed", "Traffic the last tick observed: ttft_ms, itl_ms, requests_per_second, isl, osl.",
            ["quantity"], registry=r,
        )  # fmt: skip
        self.predicted = Gauge(
            "planner_predicted", "Load predicted for the next interval: requests_per_second, isl, osl.",
            ["quantity"], registry=r,
        )  # fmt: skip
        self.target = Gauge("planner_sla_target_ms", "The latency targets: ttft and itl.", ["quantity"], registry=r)
        self.gpus = Gauge(
            "planner_gpus", "GPUs the deployment is asked for (expected engines x GPUs each).", registry=r
        )
        self.gpu_hours = Counter("planner_gpu_hours", "GPU-hours asked for since the planner started.", registry=r)
        self.ticks = Counter("planner_ticks", "Ticks by outcome.", ["outcome"], registry=r)
        self.tick_seconds = Histogram(
            "planner_tick_duration_seconds", "Duration of one whole tick.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.skipped_slots = Counter("planner_skipped_slots", "Slots skipped because a tick overran.", registry=r)
        self.start_lag = Histogram(
            "planner_tick_start_lag_seconds", "How late after its slot a tick started.", buckets=_LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.estimated_ttft = Gauge(
            "planner_estimated_ttft_ms", "TTFT the proposed fleet should give (at the sizing quantile).", registry=r
        )
        self.estimated_itl = Gauge(
            "planner_estimated_itl_ms", "ITL the proposed fleet should give (at the sizing quantile).", registry=r
        )
        self.capacity = Gauge(
            "planner_engine_capacity_requests_per_second", "Requests per second one engine of the role serves "
            "within the targets at the predicted ISL/OSL (the profile's mean-rate view).", ["role"], registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "planner_plugin_errors", "Plugin calls that cost the plugin its say, by kind: " + ", ".join(ERROR_KINDS)
            + ".", ["plugin", "stage", "kind"], registry=r,
        )  # fmt: skip
        self.circuit = Gauge(
            "planner_plugin_circuit_state", "1 for each plugin's circuit state (closed, open, half_open).",
            ["plugin", "state"], registry=r,
        )  # fmt: skip
        self.scaling = Counter(
            "planner_scaling_decisions", "Targets that moved a role, by direction and who set them (a plugin id, "
            "clamp, or safety:<reason>).", ["role", "direction", "decided_by"], registry=r,
        )  # fmt: skip
        self.calls = Counter(
            "planner_plugin_calls", "Plugin calls by status (ok, timeout, error, held, not_due, circuit_open, ...).",
            ["plugin", "stage", "status"], registry=r,
        )  # fmt: skip
        self.call_seconds = Histogram(
            "planner_plugin_call_duration_seconds", "Latency of plugin calls that ran.", ["plugin", "stage"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.cuts = Counter(
            "planner_safety_cuts", "Targets safety changed, by role and reason (budget_capped, change_capped, "
            "min_endpoint, pending_capacity).", ["role", "reason"], registry=r,
        )  # fmt: skip
        self.registered = Gauge("planner_registered_plugins", "Plugins registered, by source.", ["source"], registry=r)
        self.leader = Gauge("planner_is_leader", "1 while this replica leads (ha.enabled), else 0.", registry=r)
        self.last_decision = Gauge("planner_last_decision_id", "The last decision id this replica used.", registry=r)
        self.target.labels("ttft").set(config.ttft_ms)
        self.target.labels("itl").set(config.itl_ms)
        self._last_time: float | None = None
        self._last_gpus = 0.0
        self._sources: set[str] = set()
        self._plugin_ids: set[str] = set()
        self._perf: Any = None  # the engines' model, loaded at the first forecast (None: not yet, False: none)

    def observe_record(self, record: TickRecord) -> None:
        self.ticks.labels(record.outcome).inc()
        self.tick_seconds.observe(record.duration_ms / 1000.0)
        if record.skipped_slots:
            self.skipped_slots.inc(record.skipped_slots)
        if record.start_lag_ms is not None:
            self.start_lag.observe(max(0.0, record.start_lag_ms) / 1000.0)
        for call in record.calls:
            self.calls.labels(call.plugin_id, call.stage, call.status).inc()
            if call.latency_ms is not None:
                self.call_seconds.labels(call.plugin_id, call.stage).observe(call.latency_ms / 1000.0)
            if call.error_kind is not None:
                self.errors.labels(call.plugin_id, call.stage, call.error_kind).inc()
        for cut in record.cuts:
            self.cuts.labels(cut.role.value, cut.reason).inc()
        estimates = proposal_estimates(record)
        if "ttft_ms" in estimates:
            self.estimated_ttft.set(estimates["ttft_ms"])
        if "itl_ms" in estimates:
            self.estimated_itl.set(estimates["itl_ms"])
        if record.changed and record.targets is not None and record.replicas is not None:
            for role, target in record.targets.items():
                now = record.replicas[role].expected
                if target != now:
                    direction = "up" if target > now else "down"
                    self.scaling.labels(role.value, direction, decided_by(record, role.value)).inc()
        self._count_gpu_hours(record)
        for role, count in (record.replicas or {}).items():
            self.replicas.labels(role.value, "ready").set(count.ready)
            self.replicas.labels(role.value, "expected").set(count.expected)
        for role, target in (record.targets or {}).items():
            self.replicas.labels(role.value, "recommended").set(target)
            if record.outcome == "applied":
                self.replicas.labels(role.value, "applied").set(target)
        if record.decision_id is not None:
            self.last_decision.set(record.decision_id)
        self._traffic(record)

    def _count_gpu_hours(self, record: TickRecord) -> None:
        if record.replicas is None:
            return
        if self._last_time is not None and record.time > self._last_time:
            self.gpu_hours.inc(self._last_gpus * (record.time - self._last_time) / 3600.0)
        self._last_time = record.time
        self._last_gpus = fleet_gpus(record.replicas, self.config)
        self.gpus.set(self._last_gpus)

    def _traffic(self, record: TickRecord) -> None:
        # An unknown quantity keeps its last value rather than reading as zero.
        for name, value in observed_quantities(record).items():
            self.observed.labels(name).set(value)
        predicted = predicted_quantities(record, self.config)
        for name, value in predicted.items():
            self.predicted.labels(name).set(value)
        if predicted.get("isl") and predicted.get("osl"):
            self._capacity(predicted["isl"], predicted["osl"])

    def _engine_model(self) -> PerfModel | None:
        """The model the throughput loop sizes with: the learnt one as it stands (None until trusted),
        else the configured one, loaded once."""
        if self.config.learns_engine_model:
            from planner_plugins.predict import EngineModelLearn

            return next((p.learner.model() for p in self.plugins.in_process(EngineModelLearn)), None)
        if self._perf is None:
            from planner_plugins.builtins import perf_model

            try:
                self._perf = perf_model(self.config.model_dump())
            except Exception as exc:  # no profile: the planner decides without one, the gauge stays unset
                log.debug("no engine model for planner_engine_capacity: %s", exc)
                self._perf = False
        return self._perf or None

    def _capacity(self, isl: float, osl: float) -> None:
        """Prefill: prompts per second at the profile's throughput for this ISL; decode: requests per
        second at the best operating point meeting the ITL target (Dynamo's formulas, per engine)."""
        perf, config = self._engine_model(), self.config
        if perf is None:
            return
        prefill = perf.prefill.engine_throughput(isl) / isl
        point = perf.decode.best_operating_point(config.itl_ms, isl + osl / 2)
        decode = point.throughput_per_gpu * config.gpus_per_engine(Role.DECODE) / osl
        for role, value in ((Role.PREFILL, prefill), (Role.DECODE, decode)):
            if role in config.roles and math.isfinite(value):
                self.capacity.labels(role.value).set(value)

    def exposition(self) -> bytes:
        """The scrape body, with the gauges that are read rather than fed brought up to date."""
        sources = dict.fromkeys(self._sources, 0)  # a source whose plugins all left reads 0, not its last count
        for entry in self.plugins:
            sources[entry.source] = sources.get(entry.source, 0) + 1
        self._sources = set(sources)
        for source, count in sources.items():
            self.registered.labels(source).set(count)
        if self.wall_time is not None:
            now = self.wall_time()
            present = {entry.id: entry.circuit(now) for entry in self.plugins}
            for plugin_id in self._plugin_ids - set(present):  # a plugin that left has no circuit
                for state in ("closed", "open", "half_open"):
                    self.circuit.remove(plugin_id, state)
            self._plugin_ids = set(present)
            for plugin_id, current in present.items():
                for state in ("closed", "open", "half_open"):
                    self.circuit.labels(plugin_id, state).set(1 if state == current else 0)
        leading = self.is_leader()
        self.leader.set(1 if leading or leading is None else 0)
        return generate_latest(self.registry)

    def routes(self) -> dict[str, Route]:
        return {"/metrics": prometheus_route(self.exposition)}
