"""planner: the autoscaler for disaggregated LLM serving, as a plugin pipeline."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .clock import Clock, ScaledClock, VirtualClock, WallClock
from .config import PlannerConfig, load_config
from .connectors import Connector, InMemoryConnector
from .daemon import Planner
from .errors import (
    ConfigError,
    ConnectorError,
    PlannerError,
    PluginConnectionError,
    PluginDeclarationError,
    PluginError,
    PluginProtocolError,
    PluginTimeoutError,
    RegistrationError,
)
from .pipeline import TickRecord
from .transport import InProcessTransport, PluginTransport

try:
    __version__ = version("planner")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = [
    "Clock",
    "ConfigError",
    "Connector",
    "ConnectorError",
    "InMemoryConnector",
    "InProcessTransport",
    "Planner",
    "PlannerConfig",
    "PlannerError",
    "PluginConnectionError",
    "PluginDeclarationError",
    "PluginError",
    "PluginProtocolError",
    "PluginTimeoutError",
    "PluginTransport",
    "RegistrationError",
    "ScaledClock",
    "TickRecord",
    "VirtualClock",
    "WallClock",
    "__version__",
    "load_config",
]
