"""The planner's errors: the SDK's hierarchy plus what only the core raises."""

from __future__ import annotations

from planner_sdk import (
    PlannerError,
    PluginConnectionError,
    PluginDeclarationError,
    PluginError,
    PluginProtocolError,
    PluginTimeoutError,
)

__all__ = [
    "PlannerError",
    "PluginError",
    "PluginTimeoutError",
    "PluginConnectionError",
    "PluginProtocolError",
    "PluginDeclarationError",
    "ConfigError",
    "RegistrationError",
    "ConnectorError",
]


class ConfigError(PlannerError):
    """The configuration is invalid; the message names each field, its value and the rule."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class RegistrationError(PlannerError):
    """A plugin could not join the registry (duplicate or reserved id, bad declaration, ...)."""


class ConnectorError(PlannerError):
    """The connector could not read or change the deployment."""
