"""A running planner with its plugin registry, and remote plugins as real processes, for e2e tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from planner import InMemoryConnector, Planner, PlannerConfig, TickRecord, WallClock
from planner_sdk import Role

PLUGINS = Path(__file__).with_name("remote_plugins.py")
TOKEN = "s3cret-token"


@dataclass
class Harness:
    planner: Planner
    connector: InMemoryConnector
    address: str
    records: list[TickRecord]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_plugin(
        self,
        kind: str,
        plugin_id: str,
        token: str | None = TOKEN,
        address: str | None = None,
        token_file: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        args = [sys.executable, str(PLUGINS), kind, address or self.address, "--id", plugin_id]
        if token_file:
            args += ["--token-file", str(token_file)]
        elif token:
            args += ["--token", token]
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        self.processes.append(process)
        return process

    async def wait_for(self, condition: Callable[[], bool], within: float = 15.0, what: str = "condition") -> None:
        """Poll until `condition()` holds; fail with `what` after `within` seconds.

        The conditions watch other processes and the planner's records, which signal no event.
        """
        with anyio.move_on_after(within):
            while not condition():  # noqa: ASYNC110
                await anyio.sleep(0.02)
            return
        raise AssertionError(f"timed out after {within} s waiting for {what}")

    def calls_of(self, plugin_id: str) -> list[Any]:
        return [c for r in self.records for c in r.calls if c.plugin_id == plugin_id]


def registry_config(directory: Path, **registration: Any) -> PlannerConfig:
    settings = {
        "endpoints": [f"unix://{directory}/registry.sock"], "token_env": "PLANNER_TEST_TOKENS",
        "heartbeat_interval_seconds": 0.5, "circuit_breaker_failures": 3, "circuit_breaker_cooldown_seconds": 1.0,
        **registration,
    }  # fmt: skip
    return PlannerConfig(
        environment="virtual", max_gpu_budget=32, plugin_registration=settings,
        scheduling={"scale_interval_seconds": 0.1, "tick_max_duration_seconds": 2.0},
    )  # fmt: skip


@asynccontextmanager
async def running_planner(directory: Path, tracer_provider: Any = None, **registration: Any) -> AsyncIterator[Harness]:
    os.environ.setdefault("PLANNER_TEST_TOKENS", f"{TOKEN},another-token")
    clock = WallClock()
    connector = InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1})
    records: list[TickRecord] = []
    planner = Planner(
        registry_config(directory, **registration), clock=clock, connector=connector, discover=False,
        on_record=records.append, tracer_provider=tracer_provider,
    )  # fmt: skip
    async with planner, anyio.create_task_group() as group:
        assert planner.remote is not None
        harness = Harness(planner, connector, planner.remote.addresses[0], records)
        group.start_soon(planner.run)
        try:
            yield harness
        finally:
            for process in harness.processes:
                if process.poll() is None:
                    process.terminate()
            for process in harness.processes:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
            planner.stop()
            group.cancel_scope.cancel()
