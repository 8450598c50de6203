"""Find in-process plugins: the `planner.plugins` entry-point group and `module:Class` config entries."""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner_sdk import Plugin

from .config import PlannerConfig
from .errors import ConfigError, PluginDeclarationError

__all__ = [
    "ENTRY_POINT_GROUP",
    "FoundPlugin",
    "discover_plugins",
    "load_entry_point_plugins",
    "load_configured_plugins",
]

ENTRY_POINT_GROUP = "planner.plugins"

PluginFactory = Callable[[Mapping[str, Any]], Sequence[Plugin]]
"""An entry point's target: given the effective settings, the plugins it contributes (maybe none)."""


@dataclass(frozen=True)
class FoundPlugin:
    plugin: Plugin
    source: str  # "builtin" (entry point) or "config"


def _import(target: str, where: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError([f"{where}: {target!r}: cannot import module {module_name!r} ({exc})"]) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError([f"{where}: {target!r}: module {module_name!r} has no attribute {attr!r}"]) from None
    return obj


def load_entry_point_plugins(settings: Mapping[str, Any]) -> list[FoundPlugin]:
    """Every plugin the installed `planner.plugins` entry points contribute for these settings."""
    found: list[FoundPlugin] = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        where = f"entry point {ep.name!r} ({ep.value})"
        try:
            factory: PluginFactory = ep.load()
        except Exception as exc:
            raise PluginDeclarationError(f"{where}: cannot be loaded: {exc}") from exc
        plugins = factory(settings)
        for plugin in plugins:
            if not isinstance(plugin, Plugin):
                raise PluginDeclarationError(f"{where}: returned {plugin!r:.60}, not a Plugin")
            found.append(FoundPlugin(plugin, "builtin"))
    return found


def load_configured_plugins(config: PlannerConfig) -> list[FoundPlugin]:
    """Build each `plugins[i]` entry: `module:Class` called with its kwargs."""
    found: list[FoundPlugin] = []
    for index, entry in enumerate(config.plugins):
        where = f"plugins[{index}].factory"
        factory = _import(entry.factory, where)
        try:
            plugin = factory(**entry.kwargs)
        except (TypeError, ValueError, PluginDeclarationError) as exc:
            raise ConfigError(
                [f"{where}: {entry.factory!r} could not be built with kwargs {entry.kwargs!r}: {exc}"]
            ) from None
        if not isinstance(plugin, Plugin):
            raise ConfigError([f"{where}: {entry.factory!r} built {type(plugin).__name__}, not a planner_sdk Plugin"])
        found.append(FoundPlugin(plugin, "config"))
    return found


def discover_plugins(config: PlannerConfig, settings: Mapping[str, Any]) -> list[FoundPlugin]:
    """Entry-point and configured plugins, minus `disabled_plugins`."""
    disabled = set(config.disabled_plugins)
    everything = load_entry_point_plugins(settings) + load_configured_plugins(config)
    return [found for found in everything if found.plugin.spec.id not in disabled]
