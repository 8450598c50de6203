"""Call one plugin for its stage: due and requires gating, hold policy, timeout, validation."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import anyio

from planner_sdk import (
    Decision,
    HoldPolicy,
    OnError,
    PluginConnectionError,
    PluginError,
    PluginProtocolError,
    PluginTimeoutError,
    Role,
    StageResult,
    TickContext,
)

from ..clock import Clock
from ..observability.logs import current_plugin_id
from ..observability.tracing import TickTracer, describe_call
from ..registry import CircuitBreaker, RegisteredPlugin
from .validate import validate_result

__all__ = [
    "CallTrace", "Contribution", "CallOutcome", "CallSettings", "ERROR_KINDS", "run_plugin", "run_concurrently",
]  # fmt: skip

ERROR_KINDS = ("timeout", "connection", "protocol", "nonsense", "crashed")
"""Why a call cost its plugin its say: no answer in time, unreachable, an answer the wire contract
does not allow, a well-formed answer that is nonsense (NaN, negative, wrong stage, too many
replicas), or the plugin raised."""


class _NonsenseAnswer(PluginProtocolError):
    """validate_result refused the answer (kept apart from the transport's protocol errors)."""


def _error_kind(error: PluginError) -> str:
    if isinstance(error, PluginTimeoutError):
        return "timeout"
    if isinstance(error, PluginConnectionError):
        return "connection"
    if isinstance(error, _NonsenseAnswer):
        return "nonsense"
    if isinstance(error, PluginProtocolError):
        return "protocol"
    return "crashed"


@dataclass(frozen=True, slots=True)
class CallTrace:
    """What happened to one plugin on one tick, for the decision record."""

    plugin_id: str
    stage: str
    status: str  # ok | held | not_due | requires_unmet | circuit_open | timeout | error
    latency_ms: float | None = None
    error: str | None = None
    result: Any = None
    error_kind: str | None = None  # timeout | connection | protocol | nonsense | crashed (see ERROR_KINDS)


@dataclass(frozen=True, slots=True)
class Contribution:
    """A result that takes part in the stage's merge, with who gave it."""

    entry: RegisteredPlugin
    result: StageResult


@dataclass(frozen=True, slots=True)
class CallOutcome:
    contribution: Contribution | None
    trace: CallTrace
    rejects_tick: bool = False


@dataclass(frozen=True, slots=True)
class CallSettings:
    """What every call in one tick shares; `traces` collects each call's trace as it ends."""

    clock: Clock
    tick_deadline: float
    roles: Collection[Role]
    max_replicas: int
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    traces: list[CallTrace] = field(default_factory=list)
    tracer: TickTracer = field(default_factory=TickTracer)


async def run_plugin(
    entry: RegisteredPlugin,
    ctx: TickContext,
    slot: Fraction,
    settings: CallSettings,
    decision: Decision | None = None,
) -> CallOutcome:
    """Run the plugin if it is due and its requirements are met; else apply its hold policy."""
    plugin_token = current_plugin_id.set(entry.id)
    try:
        if settings.tracer.enabled:
            outcome = await _traced_call(entry, ctx, slot, settings, decision)
        else:
            outcome = await _call(entry, ctx, slot, settings, decision)
    finally:
        current_plugin_id.reset(plugin_token)
    settings.traces.append(outcome.trace)
    return outcome


async def _traced_call(
    entry: RegisteredPlugin, ctx: TickContext, slot: Fraction, settings: CallSettings, decision: Decision | None
) -> CallOutcome:
    attributes = {"plugin.id": entry.id, "plugin.stage": entry.spec.stage.value, "plugin.source": entry.source,
                  "plugin.timeout_seconds": entry.timeout_seconds}  # fmt: skip
    with settings.tracer.span(f"plugin {entry.id}", attributes) as span:
        assert span is not None
        try:
            outcome = await _call(entry, ctx, slot, settings, decision)
        except BaseException:
            describe_call(span, settings.traces[-1])  # the tick's deadline cut the call off
            raise
        describe_call(span, outcome.trace)
    return outcome


async def _call(
    entry: RegisteredPlugin,
    ctx: TickContext,
    slot: Fraction,
    settings: CallSettings,
    decision: Decision | None,
) -> CallOutcome:
    spec = entry.spec
    if decision is None:
        if not entry.is_due(slot):
            return _held(entry, "not_due")
        if not all(ctx.has(name) for name in spec.requires):
            return _held(entry, "requires_unmet")
    clock = settings.clock
    # A plugin's timeout, latency and circuit-breaker cooldown are in wall seconds whatever pace the
    # planner's clock keeps (a process answers no faster because a simulation runs 20 times faster);
    # the tick's deadline is in planner seconds.
    real = clock.unscaled()
    if entry.circuit(real.monotonic()) == "open":
        return _held(entry, "circuit_open")
    started = real.monotonic()
    budget = min(entry.timeout_seconds, max(0.0, settings.tick_deadline - clock.monotonic()) / clock.speed)
    try:
        async with real.move_on_at(started + budget) as scope:
            raw = await entry.transport.invoke(ctx.trimmed(spec.needs), decision, budget)
        if scope.expired:
            raise PluginTimeoutError(spec.id, f"no answer within {budget:.3g} s")
        try:
            result = validate_result(spec, raw, settings.roles, settings.max_replicas)
        except PluginProtocolError as exc:
            raise _NonsenseAnswer(spec.id, exc.detail) from None
    except Exception as exc:  # any failure costs this plugin its say, never the tick
        error = exc if isinstance(exc, PluginError) else PluginError(spec.id, f"raised {type(exc).__name__}: {exc}")
        latency = (real.monotonic() - started) * 1000.0
        entry.record_failure(str(error), latency, real.monotonic(), settings.breaker)
        status = "timeout" if isinstance(error, PluginTimeoutError) else "error"
        trace = CallTrace(spec.id, spec.stage.value, status, latency, str(error), error_kind=_error_kind(error))
        if spec.on_error is OnError.REJECT_TICK:
            return CallOutcome(None, trace, rejects_tick=True)
        if spec.on_error is OnError.HOLD_LAST and entry.last_result is not None:
            return CallOutcome(Contribution(entry, entry.last_result), trace)
        return CallOutcome(None, trace)
    except BaseException:
        # The tick's deadline cancelled the call: say so in the record, then let it unwind.
        latency = (real.monotonic() - started) * 1000.0
        entry.record_failure("cancelled at the tick deadline", latency, real.monotonic(), settings.breaker)
        settings.traces.append(
            CallTrace(
                spec.id, spec.stage.value, "timeout", latency, "cancelled at the tick deadline", error_kind="timeout"
            )
        )
        raise
    latency = (real.monotonic() - started) * 1000.0
    entry.record_success(slot, result, latency)
    return CallOutcome(Contribution(entry, result), CallTrace(spec.id, spec.stage.value, "ok", latency, result=result))


def _held(entry: RegisteredPlugin, why: str) -> CallOutcome:
    if entry.spec.hold is HoldPolicy.HOLD_LAST and entry.last_result is not None:
        trace = CallTrace(entry.id, entry.spec.stage.value, "held", error=None, result=entry.last_result)
        return CallOutcome(Contribution(entry, entry.last_result), trace)
    return CallOutcome(None, CallTrace(entry.id, entry.spec.stage.value, why))


async def run_concurrently(
    entries: list[RegisteredPlugin],
    ctx: TickContext,
    slot: Fraction,
    settings: CallSettings,
    decision: Decision | None = None,
) -> list[CallOutcome]:
    """Run a stage's plugins at once; outcomes come back in the entries' (priority) order."""
    outcomes: list[CallOutcome | None] = [None] * len(entries)

    async def one(index: int, entry: RegisteredPlugin) -> None:
        outcomes[index] = await run_plugin(entry, ctx, slot, settings, decision)

    if len(entries) == 1:
        await one(0, entries[0])
    else:
        async with anyio.create_task_group() as group:
            for index, entry in enumerate(entries):
                group.start_soon(one, index, entry)
    return [outcome for outcome in outcomes if outcome is not None]
