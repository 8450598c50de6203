"""The plugin registry: who is registered, their schedule state and their last answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar

from planner_sdk import PluginSpec, Stage, StageResult

from .errors import RegistrationError
from .scheduling.cadence import as_fraction
from .transport import InProcessTransport, PluginTransport

__all__ = ["BUILTIN_ID_PREFIX", "CircuitBreaker", "RegisteredPlugin", "PluginRegistry"]

BUILTIN_ID_PREFIX = "builtin_"

T = TypeVar("T")


@dataclass(frozen=True)
class CircuitBreaker:
    """After `failures` failures in a row a plugin is skipped for `cooldown_seconds`, then probed."""

    failures: int = 5
    cooldown_seconds: float = 30.0


@dataclass
class RegisteredPlugin:
    """A plugin as the scheduler sees it: declaration, transport and per-plugin state."""

    transport: PluginTransport
    source: str
    timeout_seconds: float
    next_due: Fraction = Fraction(0)
    last_result: StageResult | None = None
    last_latency_ms: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    endpoint: str = ""
    identity: str | None = None
    plugin_version: str = ""
    circuit_open_until: float | None = None
    interval: Fraction = field(init=False)

    def __post_init__(self) -> None:
        self.interval = as_fraction(self.spec.execution_interval_seconds)

    @property
    def spec(self) -> PluginSpec:
        return self.transport.spec

    @property
    def id(self) -> str:
        return self.transport.spec.id

    def is_due(self, slot: Fraction) -> bool:
        return slot >= self.next_due

    def record_success(self, slot: Fraction, result: StageResult, latency_ms: float) -> None:
        self.next_due = slot + self.interval
        self.last_result = result
        self.last_latency_ms = latency_ms
        self.last_error = None
        self.consecutive_failures = 0
        self.circuit_open_until = None

    def record_failure(self, error: str, latency_ms: float, now: float, breaker: CircuitBreaker) -> None:
        # next_due stays: "due when its interval has elapsed since its last successful run".
        self.last_error = error
        self.last_latency_ms = latency_ms
        self.consecutive_failures += 1
        if self.consecutive_failures >= breaker.failures:
            self.circuit_open_until = now + breaker.cooldown_seconds

    def circuit(self, now: float) -> str:
        """`closed`, `open` (calls skipped) or `half_open` (the next call is a probe)."""
        if self.circuit_open_until is None:
            return "closed"
        return "open" if now < self.circuit_open_until else "half_open"


class PluginRegistry:
    """Registered plugins by id; tells listeners when the set changes (the cadence may move)."""

    def __init__(self) -> None:
        self._plugins: dict[str, RegisteredPlugin] = {}
        self._listeners: list[Callable[[], None]] = []

    def add(
        self,
        transport: PluginTransport,
        *,
        source: str,
        timeout_seconds: float,
        anchor: Fraction = Fraction(0),
    ) -> RegisteredPlugin:
        """Register a plugin; it is first due at `anchor` (its registration slot)."""
        spec = transport.spec
        if spec.id in self._plugins:
            other = self._plugins[spec.id]
            raise RegistrationError(f"duplicate plugin id {spec.id!r} (already registered by {other.source})")
        if spec.id.startswith(BUILTIN_ID_PREFIX) and source != "builtin":
            raise RegistrationError(
                f"plugin id {spec.id!r}: the prefix {BUILTIN_ID_PREFIX!r} is reserved for builtin plugins"
            )
        entry = RegisteredPlugin(transport, source, spec.timeout_seconds or timeout_seconds, next_due=anchor)
        self._plugins[spec.id] = entry
        self._changed()
        return entry

    def remove(self, plugin_id: str) -> RegisteredPlugin | None:
        entry = self._plugins.pop(plugin_id, None)
        if entry is not None:
            self._changed()
        return entry

    def get(self, plugin_id: str) -> RegisteredPlugin | None:
        return self._plugins.get(plugin_id)

    def for_stage(self, stage: Stage) -> list[RegisteredPlugin]:
        """The stage's plugins by ascending priority, then id (a stable order for ties)."""
        return sorted(
            (p for p in self._plugins.values() if p.spec.stage is stage),
            key=lambda p: (p.spec.priority, p.id),
        )

    def intervals(self) -> dict[str, float]:
        """Execution intervals of the plugins the cadence must serve (apply plugins are event-driven)."""
        return {
            p.id: p.spec.execution_interval_seconds for p in self._plugins.values() if p.spec.stage is not Stage.APPLY
        }

    def earliest_due(self) -> Fraction | None:
        """The soonest slot any plugin the cadence serves is due at, or None without such plugins."""
        return min((p.next_due for p in self._plugins.values() if p.spec.stage is not Stage.APPLY), default=None)

    def in_process(self, kind: type[T]) -> list[T]:
        """The plugin objects of this type that run in this process (remote ones are not reachable)."""
        return [
            p.transport.plugin
            for p in self._plugins.values()
            if isinstance(p.transport, InProcessTransport) and isinstance(p.transport.plugin, kind)
        ]

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def __iter__(self) -> Iterator[RegisteredPlugin]:
        return iter(list(self._plugins.values()))

    def __len__(self) -> int:
        return len(self._plugins)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
