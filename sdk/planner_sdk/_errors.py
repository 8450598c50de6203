"""The one error hierarchy shared by the SDK, the builtin plugins and the planner core."""

from __future__ import annotations

__all__ = [
    "PlannerError",
    "PluginError",
    "PluginTimeoutError",
    "PluginConnectionError",
    "PluginProtocolError",
    "PluginDeclarationError",
]


class PlannerError(Exception):
    """Base of every error the planner and its SDK raise on purpose."""


class PluginError(PlannerError):
    """A plugin failed to give a usable answer; it loses its say for this tick."""

    def __init__(self, plugin_id: str, message: str) -> None:
        super().__init__(f"plugin {plugin_id!r}: {message}")
        self.plugin_id = plugin_id
        self.detail = message


class PluginTimeoutError(PluginError):
    """A plugin call outlived its timeout or what was left of the tick deadline."""


class PluginConnectionError(PluginError):
    """A remote plugin could not be reached, or dropped the call."""


class PluginProtocolError(PluginError):
    """A plugin answered with something the contract does not allow (wrong stage, NaN, ...)."""


class PluginDeclarationError(PlannerError):
    """A plugin's declaration (id, stage, interval, ...) is invalid."""
