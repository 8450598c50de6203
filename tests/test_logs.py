"""log_format json: one object per line, carrying the tick, decision and plugin ids."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import anyio
import pytest

from helpers import Propose, memory, planner, set_targets
from planner import VirtualClock
from planner.observability.logs import JsonFormatter, configure_logging
from planner_sdk import ProposeResult, TickContext

plugin_log = logging.getLogger("a_plugin")


def chatty(ctx: TickContext) -> ProposeResult:
    plugin_log.info("sizing for tick %d", ctx.tick_id)
    return set_targets(2, 2)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def run_ticks(ticks: int) -> None:
    clock = VirtualClock()

    async def main() -> None:
        p = planner(clock, Propose("chatty", chatty, interval=60.0), connector=memory(clock),
                    scheduling={"scale_interval_seconds": 60.0})  # fmt: skip
        async with p, clock.autojump():
            await p.run(max_ticks=ticks)

    anyio.run(main)


def test_a_decision_line_carries_its_tick_and_decision_ids(json_lines: io.StringIO) -> None:
    run_ticks(1)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    decision = next(line for line in lines if line["logger"] == "planner" and "applied" in line["message"])
    assert decision["tick_id"] == 1
    assert decision["decision_id"] == 1
    assert decision["outcome"] == "applied"
    assert decision["level"] == "INFO"
    assert decision["time"].endswith("+00:00")


def test_a_plugins_own_line_carries_the_plugin_and_tick(json_lines: io.StringIO) -> None:
    run_ticks(2)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    mine = [line for line in lines if line["logger"] == "a_plugin"]
    assert [(line["tick_id"], line["plugin_id"]) for line in mine] == [(1, "chatty"), (2, "chatty")]


def test_a_line_outside_any_tick_has_no_ids() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        logging.getLogger("planner").warning("outside a tick")
    finally:
        configure_logging("WARNING", "text", sys.stderr)
    line = json.loads(stream.getvalue())
    assert line["message"] == "outside a tick"
    assert "tick_id" not in line
    assert "plugin_id" not in line


def test_the_daemon_logs_json_and_a_port_in_use_is_one_line_while_it_decides() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["run", "--speed", "600", "--duration", "600", "--set", "log_format=json",
                "--set", f"live_dashboard_port={port}"]  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "planner", *args], capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    refused = [line for line in lines if "live_dashboard_port" in line["message"]]
    assert len(refused) == 1
    assert refused[0]["level"] == "ERROR"
    assert f"cannot listen on 127.0.0.1:{port}" in refused[0]["message"]
    assert any(line["message"].startswith("stopped after") for line in lines)
    assert any("tick_id" in line for line in lines)
