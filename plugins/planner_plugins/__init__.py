"""planner-plugins: the builtin plugins, written against planner_sdk exactly as a third party would."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
