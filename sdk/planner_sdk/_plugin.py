"""The plugin declaration and one abstract base class per stage."""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from ._context import ContextField, TickContext
from ._errors import PluginDeclarationError
from ._types import (
    ApplyAck,
    ClampResult,
    Decision,
    HoldPolicy,
    Observations,
    OnError,
    PredictResult,
    ProposeResult,
    Stage,
)

__all__ = [
    "PluginSpec",
    "Plugin",
    "ObservePlugin",
    "PredictPlugin",
    "ProposePlugin",
    "ClampPlugin",
    "ApplyPlugin",
    "PLUGIN_ID_PATTERN",
]

PLUGIN_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")


def _fields(values: Iterable[ContextField | str], what: str) -> frozenset[ContextField]:
    out = set()
    for value in values:
        try:
            out.add(ContextField(value))
        except ValueError:
            known = ", ".join(f.value for f in ContextField)
            raise PluginDeclarationError(f"{what}: unknown context field {value!r} (known: {known})") from None
    return frozenset(out)


@dataclass(frozen=True)
class PluginSpec:
    """What a plugin declares about itself; validated on construction."""

    id: str
    stage: Stage
    execution_interval_seconds: float
    priority: int = 100
    hold: HoldPolicy = HoldPolicy.NO_OPINION
    needs: frozenset[ContextField] = field(default_factory=frozenset)
    requires: frozenset[ContextField] = field(default_factory=frozenset)
    timeout_seconds: float | None = None
    on_error: OnError = OnError.SKIP

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not PLUGIN_ID_PATTERN.match(self.id):
            raise PluginDeclarationError(
                f"id: {self.id!r} must match {PLUGIN_ID_PATTERN.pattern} (lower-case, digits, '_', '.', '-')"
            )
        where = f"plugin {self.id!r}"
        try:
            object.__setattr__(self, "stage", Stage(self.stage))
            object.__setattr__(self, "hold", HoldPolicy(self.hold))
            object.__setattr__(self, "on_error", OnError(self.on_error))
        except ValueError as exc:
            raise PluginDeclarationError(f"{where}: {exc}") from None
        interval = self.execution_interval_seconds
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not math.isfinite(interval)
            or interval <= 0
        ):
            raise PluginDeclarationError(
                f"{where}: execution_interval_seconds={interval!r} must be a finite number > 0"
            )
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise PluginDeclarationError(f"{where}: priority={self.priority!r} must be an integer")
        timeout = self.timeout_seconds
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise PluginDeclarationError(f"{where}: timeout_seconds={timeout!r} must be a finite number > 0")
        requires = _fields(self.requires, f"{where}: requires")
        needs = _fields(self.needs, f"{where}: needs") | requires
        object.__setattr__(self, "requires", requires)
        object.__setattr__(self, "needs", needs)


class Plugin(abc.ABC):
    """Common ground of every plugin: a declaration. Subclass one of the stage classes."""

    stage: ClassVar[Stage]
    spec: PluginSpec


class ObservePlugin(Plugin):
    """Fills observations (traffic, per-worker load). Methods may be async or sync."""

    stage = Stage.OBSERVE

    @abc.abstractmethod
    def observe(self, ctx: TickContext) -> Observations | Awaitable[Observations]: ...


class PredictPlugin(Plugin):
    """Forecasts next-interval load; runs in a chain by ascending priority."""

    stage = Stage.PREDICT

    @abc.abstractmethod
    def predict(self, ctx: TickContext) -> PredictResult | Awaitable[PredictResult]: ...


class ProposePlugin(Plugin):
    """Proposes replica targets per role (SET, AT_LEAST, AT_MOST), accepts, or rejects the tick."""

    stage = Stage.PROPOSE

    @abc.abstractmethod
    def propose(self, ctx: TickContext) -> ProposeResult | Awaitable[ProposeResult]: ...


class ClampPlugin(Plugin):
    """Tightens the merged proposal (AT_LEAST / AT_MOST only) or rejects the tick."""

    stage = Stage.CLAMP

    @abc.abstractmethod
    def clamp(self, ctx: TickContext) -> ClampResult | Awaitable[ClampResult]: ...


class ApplyPlugin(Plugin):
    """Receives every decision the planner makes and acknowledges it."""

    stage = Stage.APPLY

    @abc.abstractmethod
    def apply(self, ctx: TickContext, decision: Decision) -> ApplyAck | Awaitable[ApplyAck]: ...
