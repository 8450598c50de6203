"""The transport seam: how the core calls a plugin. In-process here; gRPC is a second implementation."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

import anyio.to_thread

from planner_sdk import (
    ApplyPlugin,
    ClampPlugin,
    Decision,
    ObservePlugin,
    Plugin,
    PluginSpec,
    PluginTimeoutError,
    PredictPlugin,
    ProposePlugin,
    Stage,
    StageResult,
    TickContext,
)

from .clock import Clock
from .errors import PluginDeclarationError

__all__ = ["PluginTransport", "InProcessTransport"]


@runtime_checkable
class PluginTransport(Protocol):
    """One plugin behind some wire: call it for its stage, close it when done."""

    @property
    def spec(self) -> PluginSpec: ...

    async def invoke(self, ctx: TickContext, decision: Decision | None, budget_seconds: float) -> StageResult:
        """Call the plugin's stage method; `budget_seconds` is what the call may take at most.

        The core also enforces the timeout on its own clock; a transport passes it on where the
        wire can carry it (a gRPC deadline) or where the core cannot see the work (a thread).
        """
        ...

    async def aclose(self) -> None: ...


_STAGE_CLASSES: dict[Stage, type[Plugin]] = {
    Stage.OBSERVE: ObservePlugin,
    Stage.PREDICT: PredictPlugin,
    Stage.PROPOSE: ProposePlugin,
    Stage.CLAMP: ClampPlugin,
    Stage.APPLY: ApplyPlugin,
}


class InProcessTransport:
    """Calls a plugin object in this process; sync methods run in a worker thread."""

    def __init__(self, plugin: Plugin, clock: Clock) -> None:
        spec = getattr(plugin, "spec", None)
        if not isinstance(spec, PluginSpec):
            raise PluginDeclarationError(f"{type(plugin).__qualname__}: has no `spec` PluginSpec declaration")
        expected = _STAGE_CLASSES[spec.stage]
        if not isinstance(plugin, expected):
            raise PluginDeclarationError(
                f"plugin {spec.id!r}: declares stage {spec.stage.value!r} but is not a {expected.__name__}"
            )
        self._plugin = plugin
        self._spec = spec
        self._clock = clock
        self._method: Callable[..., Any] = getattr(plugin, spec.stage.value)
        self._is_async = inspect.iscoroutinefunction(self._method)

    @property
    def plugin(self) -> Plugin:
        """The plugin object this transport calls."""
        return self._plugin

    @property
    def spec(self) -> PluginSpec:
        return self._spec

    async def invoke(self, ctx: TickContext, decision: Decision | None, budget_seconds: float) -> StageResult:
        args: tuple[Any, ...] = (ctx, decision) if self._spec.stage is Stage.APPLY else (ctx,)
        if self._is_async:
            result = await self._method(*args)
        else:
            # A thread is invisible to a virtual clock, which holds still while it runs, so the
            # timeout is enforced here in real seconds too. abandon_on_cancel: a hung sync
            # plugin costs its thread, never the tick.
            with self._clock.busy(), anyio.move_on_after(budget_seconds) as guard:
                result = await anyio.to_thread.run_sync(self._method, *args, abandon_on_cancel=True)
            if guard.cancelled_caught:
                raise PluginTimeoutError(
                    self._spec.id, f"no answer within {budget_seconds:.3g} s (worker thread abandoned)"
                )
            if inspect.isawaitable(result):
                result = await result
        return cast(StageResult, result)

    async def aclose(self) -> None:
        close = getattr(self._plugin, "aclose", None)
        if close is not None:
            outcome = close()
            if inspect.isawaitable(outcome):
                await outcome
