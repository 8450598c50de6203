"""One tick: observe -> predict -> propose -> clamp -> safety -> apply -> record, under a deadline."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction

import anyio

from planner_sdk import (
    Decision,
    Observations,
    PlannerView,
    ProposeResult,
    Stage,
    TickContext,
)

from ..clock import Clock
from ..config import PlannerConfig
from ..connectors.base import Connector, Leadership
from ..errors import ConnectorError
from ..observability.logs import current_tick_id
from ..observability.tracing import TickTracer, mark_error
from ..registry import CircuitBreaker, PluginRegistry
from .clamp import apply_clamps
from .invoke import CallOutcome, CallSettings, run_concurrently
from .observe import merge_observations
from .predict import run_predict_chain
from .propose import Proposer, merge_proposals
from .record import TickRecord, to_jsonable
from .safety import SafetyGuard, SafetyLimits

__all__ = ["TickPipeline", "planner_view", "safety_limits"]


def planner_view(config: PlannerConfig) -> PlannerView:
    return PlannerView(
        mode=config.mode,
        roles=config.roles,
        optimization_target=config.optimization_target,
        ttft_ms=config.ttft_ms,
        itl_ms=config.itl_ms,
        max_gpu_budget=config.max_gpu_budget,
        gpus_per_engine={role: config.gpus_per_engine(role) for role in config.roles},
        min_endpoint={role: config.min_endpoint_for(role) for role in config.roles},
        settings={**to_jsonable(config.model_dump()), "effective": config.effective()},
    )


def safety_limits(config: PlannerConfig) -> SafetyLimits:
    return SafetyLimits(
        min_endpoint={role: config.min_endpoint_for(role) for role in config.roles},
        gpus_per_engine={role: config.gpus_per_engine(role) for role in config.roles},
        max_gpu_budget=config.max_gpu_budget,
        pending_scale_down_timeout_seconds=config.safety.pending_scale_down_timeout_seconds,
        max_change=config.max_throughput_scaling_replicas,
    )


def _proposers(outcomes: list[CallOutcome]) -> list[Proposer]:
    out: list[Proposer] = []
    for outcome in outcomes:
        if outcome.contribution is not None:
            result = outcome.contribution.result
            assert isinstance(result, ProposeResult)
            entry = outcome.contribution.entry
            out.append((entry.id, entry.spec.priority, result))
    return out


def _rejecters(outcomes: list[CallOutcome]) -> list[str]:
    return [o.trace.plugin_id for o in outcomes if o.rejects_tick]


class TickPipeline:
    """Runs ticks against a registry and a connector; owns decision ids and the safety guard."""

    def __init__(
        self,
        config: PlannerConfig,
        registry: PluginRegistry,
        connector: Connector,
        clock: Clock,
        on_record: Callable[[TickRecord], None] | None = None,
        tracer: TickTracer | None = None,
    ) -> None:
        self.config = config
        self.tracer = tracer or TickTracer()
        self.registry = registry
        self.connector = connector
        self.clock = clock
        self.on_record = on_record
        self.view = planner_view(config)
        self.guard = SafetyGuard(safety_limits(config))
        self.last_decision_id = 0
        self.on_decision_id: Callable[[int], None] | None = None  # told each id as it is handed out
        self.connector_error: str | None = None  # why the last tick could not read the deployment
        self.leadership: Leadership | None = None  # with HA, the leader election that hands out decision ids

    def reconfigure(self, config: PlannerConfig) -> None:
        """Take a config the deployment refined (GPUs per engine) before the first tick."""
        self.config = config
        self.view = planner_view(config)
        self.guard = SafetyGuard(safety_limits(config))

    async def run_tick(self, tick_id: int, slot: Fraction, skipped_slots: int = 0) -> TickRecord:
        """Run one whole tick; never raises for a plugin's or the deadline's sake."""
        clock = self.clock
        started = clock.monotonic()
        deadline = started + self.config.scheduling.tick_max_duration_seconds
        record = TickRecord(tick_id=tick_id, time=clock.now(), slot_seconds=float(slot), skipped_slots=skipped_slots)
        attributes = {"planner.tick_id": tick_id, "planner.slot_seconds": float(slot), "planner.time": record.time,
                      "planner.deadline_seconds": self.config.scheduling.tick_max_duration_seconds}  # fmt: skip
        tick_token = current_tick_id.set(tick_id)
        with self.tracer.span("planner.tick", attributes) as span:
            async with clock.move_on_at(deadline) as scope:
                await self._run_stages(record, slot, deadline)
            if scope.expired and record.decision_id is None:  # a decision handed out keeps its own outcome
                record.outcome = "skipped_timeout"
                record.reason = (
                    f"tick exceeded scheduling.tick_max_duration_seconds="
                    f"{self.config.scheduling.tick_max_duration_seconds:g}; nothing applied"
                )
            record.duration_ms = (clock.monotonic() - started) * 1000.0
            if span is not None:
                span.set_attribute("planner.outcome", record.outcome)
                if record.decision_id is not None:
                    span.set_attribute("planner.decision_id", record.decision_id)
                if record.reason:
                    span.set_attribute("planner.reason", record.reason)
                if record.outcome in ("skipped_timeout", "skipped_error", "apply_failed"):
                    mark_error(span, record.reason or record.outcome)
        current_tick_id.reset(tick_token)
        if self.on_record is not None:
            self.on_record(record)
        return record

    async def _run_stages(self, record: TickRecord, slot: Fraction, deadline: float) -> None:
        try:
            replicas = dict(await self.connector.current_replicas())
        except Exception as exc:  # a deployment we cannot read is a tick we cannot decide
            record.outcome, record.reason = "skipped_error", f"connector could not report replicas: {exc}"
            self.connector_error = str(exc)
            return
        self.connector_error = None
        missing = [role.value for role in self.view.roles if role not in replicas]
        if missing:
            record.outcome, record.reason = "skipped_error", f"connector reported no replicas for {missing}"
            return
        record.replicas = replicas
        registration = self.config.plugin_registration
        breaker = CircuitBreaker(registration.circuit_breaker_failures, registration.circuit_breaker_cooldown_seconds)
        settings = CallSettings(
            self.clock, deadline, self.view.roles, self.config.safety.max_replicas_per_role, breaker,
            tracer=self.tracer,
        )  # fmt: skip
        record.calls = settings.traces  # filled as calls end, even those the deadline cuts off
        ctx = TickContext(
            tick_id=record.tick_id,
            decision_id=self.last_decision_id + 1,
            now=record.time,
            planner=self.view,
            replicas=replicas,
        )
        registry = self.registry

        tracer = self.tracer
        with tracer.span("stage observe"):
            observed = await run_concurrently(registry.for_stage(Stage.OBSERVE), ctx, slot, settings)
        seen = [o.contribution.result for o in observed if o.contribution is not None]
        ctx = dataclasses.replace(
            ctx, observations=merge_observations([obs for obs in seen if isinstance(obs, Observations)])
        )
        record.observations = ctx.observations
        if self._rejected(record, _rejecters(observed)):
            return

        with tracer.span("stage predict"):
            predictions, predicted = await run_predict_chain(registry.for_stage(Stage.PREDICT), ctx, slot, settings)
        ctx = dataclasses.replace(ctx, predictions=predictions)
        record.predictions = predictions
        if self._rejected(record, _rejecters(predicted)):
            return

        current = {role: count.expected for role, count in replicas.items()}
        with tracer.span("stage propose"):
            proposed = await run_concurrently(registry.for_stage(Stage.PROPOSE), ctx, slot, settings)
        if self._rejected(record, _rejecters(proposed)):
            return
        merged = merge_proposals(_proposers(proposed), current)
        record.merge_reasons = list(merged.reasons)
        if merged.rejected_by:
            record.outcome, record.reason = "skipped_rejected", "; ".join(merged.reasons)
            return
        record.proposal = dict(merged.targets)

        ctx = dataclasses.replace(ctx, proposal=dict(merged.targets))
        with tracer.span("stage clamp"):
            clamps = await run_concurrently(registry.for_stage(Stage.CLAMP), ctx, slot, settings)
        if self._rejected(record, _rejecters(clamps)):
            return
        clamped = apply_clamps(merged.targets, _proposers(clamps), current)
        record.clamp_reasons = list(clamped.dropped) + list(clamped.merged.reasons)
        if clamped.merged.rejected_by:
            record.outcome, record.reason = "skipped_rejected", "; ".join(clamped.merged.reasons)
            return
        if not clamped.merged.targets:
            record.outcome, record.reason = "skipped_no_targets", "no plugin proposed a target"
            return
        record.clamped = dict(clamped.merged.targets)

        safe = self.guard.enforce(clamped.merged.targets, replicas, self.clock.monotonic())
        record.safety_reasons = list(safe.reasons)
        record.cuts = list(safe.cuts)
        record.targets = {role: safe.targets[role] for role in self.view.roles}
        if record.targets == {role: current[role] for role in self.view.roles}:
            record.outcome = "no_change"
            return
        with tracer.span("stage apply", {"planner.targets": str({r.value: n for r, n in record.targets.items()})}):
            await self._apply(record, ctx, slot, settings, deadline)

    async def _apply(
        self, record: TickRecord, ctx: TickContext, slot: Fraction, settings: CallSettings, deadline: float
    ) -> None:
        assert record.targets is not None
        if self.clock.monotonic() >= deadline:
            return  # the deadline passed: the scope is cancelled and the tick applies nothing
        # Shielded: once a decision id is claimed and handed to the connector, it completes whatever
        # the tick's deadline, so the lease and the deployment never see half a decision; but a
        # connector that never answers gets one more tick's worth of time, or it would stall the
        # planner for good (the next tick re-reads the deployment and decides again).
        budget = self.config.scheduling.tick_max_duration_seconds
        decision = None
        with anyio.CancelScope(shield=True):
            async with self.clock.move_on_at(self.clock.monotonic() + budget) as guard:
                decision = await self._claim_and_apply(record)
        if guard.expired:
            record.outcome = "apply_failed"
            record.reason = f"the connector did not answer within {budget:g} s; a later tick decides again"
            return
        if decision is None:
            return
        appliers = self.registry.for_stage(Stage.APPLY)
        if appliers:
            await run_concurrently(appliers, ctx, slot, settings, decision)

    async def _claim_and_apply(self, record: TickRecord) -> Decision | None:
        """The decision applied (or advisory), or None when it could not be (the record says why)."""
        assert record.targets is not None
        decision_id = self.last_decision_id + 1
        if self.leadership is not None and not self.config.advisory:
            claim = await self.leadership.claim_decision_id(decision_id)
            if claim.decision_id is None:  # a follower plans but does not apply, nor use up an id
                record.outcome, record.reason = claim.outcome, claim.reason
                return None
            decision_id = claim.decision_id
        self.last_decision_id = decision_id
        if self.on_decision_id is not None:
            self.on_decision_id(decision_id)  # before it is applied: a restart never reuses it
        decision = Decision(
            decision_id=decision_id,
            targets=dict(record.targets),
            advisory=self.config.advisory,
            reasons=tuple(record.merge_reasons + record.clamp_reasons + record.safety_reasons),
        )
        record.decision_id = decision.decision_id
        if self.config.advisory:
            record.outcome = "advisory"
            return None
        try:
            notes = await self.connector.apply(decision)
        except ConnectorError as exc:  # the deployment refused or did not answer: a later tick retries
            record.outcome, record.reason = "apply_failed", f"connector failed to apply: {exc}"
            return None
        except Exception as exc:
            record.outcome, record.reason = "skipped_error", f"connector failed to apply: {exc}"
            return None
        record.outcome = "applied"
        record.connector_notes = list(notes or ())
        if record.connector_notes:
            record.reason = "; ".join(record.connector_notes)
        return decision

    def _rejected(self, record: TickRecord, rejecters: list[str]) -> bool:
        if not rejecters:
            return False
        record.outcome = "skipped_rejected"
        record.reason = f"on_error=reject_tick: {', '.join(rejecters)} failed"
        return True
