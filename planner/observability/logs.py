"""Log output: the text format, or one JSON object per line carrying the tick, decision and plugin ids."""

from __future__ import annotations

import datetime
import json
import logging
from contextvars import ContextVar
from typing import IO, Any

__all__ = ["JsonFormatter", "configure_logging", "current_tick_id", "current_plugin_id", "TEXT_FORMAT"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

current_tick_id: ContextVar[int | None] = ContextVar("planner_tick_id", default=None)
"""The tick being run; every line logged while it runs (plugins' own lines included) carries it."""
current_plugin_id: ContextVar[str | None] = ContextVar("planner_plugin_id", default=None)
"""The plugin being called; likewise."""

_IDS = ("tick_id", "decision_id", "plugin_id", "outcome")


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "tick_id", "decision_id", "plugin_id", ...}` per line.
    Ids come from `extra=` where given, else from the tick and plugin being run."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = {"tick_id": current_tick_id.get(), "plugin_id": current_plugin_id.get()}
        for name in _IDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str, log_format: str, stream: IO[str]) -> None:
    """The root logger writes `log_format` (text or json) lines at `level` to `stream`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
