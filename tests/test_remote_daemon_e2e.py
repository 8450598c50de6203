"""`planner run` with remote plugins beside it, as a user following the README runs them.

The daemon runs on the embedded deployment at its own speed; two remote plugins join it once it
ticks: one written with the SDK (`serve()`), one written from `protos/` alone (stubs generated here by
`grpc_tools.protoc`, no SDK). Real processes on Unix sockets, a token file, only the fields a newcomer
sets. Each plugin prints when it was admitted and when it was called, in wall time.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

TESTS = Path(__file__).parent
PROTOS = TESTS.parent / "protos"
TOKEN = "e2e-token"
FLOORS = {"sdk_floor", "stub_floor"}
LEASE_WALL_S = 10.0  # the default lease: two 5 s heartbeats
STUB_CALLS = 4


def generate_stubs(directory: Path) -> Path:
    """What a plugin author in any language does first: compile the protos."""
    sources = sorted(str(p) for p in (PROTOS / "planner" / "v1").glob("*.proto"))
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"--python_out={directory}",
         f"--grpc_python_out={directory}", *sources],
        check=True,
    )  # fmt: skip
    for package in (directory / "planner", directory / "planner" / "v1"):
        (package / "__init__.py").touch()
    return directory


@dataclass
class Plugin:
    """A plugin process and what it printed: `registered T`, then `called T` per call (wall monotonic)."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def read_available(self) -> None:
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        while line := self.process.stdout.readline():
            self.lines.append(line.strip())

    def times(self, word: str) -> list[float]:
        self.read_available()
        return [float(line.split()[1]) for line in self.lines if line.startswith(word + " ")]


def poll(condition: Callable[[], bool], within: float, what: str, daemon: subprocess.Popen[Any]) -> None:
    """Wait for another process's output: nothing signals it, so poll against a deadline."""
    deadline = time.monotonic() + within
    while not condition():
        assert daemon.poll() is None, f"the planner exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {within} s waiting for {what}"
        time.sleep(0.05)


def records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.endswith("}")]


@dataclass
class Run:
    """One `planner run` with both plugins joined after its first tick."""

    speed: float
    sdk_interval: float  # planner seconds; the stub plugin's is twice this
    daemon_log: str
    records: list[dict[str, Any]]
    sdk: Plugin
    stub: Plugin
    listed: str


def run_daemon_with_plugins(tmp: Path, speed: float, decode_floor: int, prefill_floor: int) -> Run:
    sdk_interval = 1.0 if speed == 1 else 10.0  # a tick every wall second, or every half second
    (tmp / "tokens").write_text(TOKEN + "\n")
    registry = f"unix://{tmp}/registry.sock"
    config = {
        "simulation": {"speed": speed},
        "plugin_registration": {"endpoints": [registry], "token_file": str(tmp / "tokens")},
        "decision_record_path": str(tmp / "decisions.jsonl"),
    }
    (tmp / "planner.yaml").write_text(yaml.safe_dump(config))
    log: IO[bytes] = (tmp / "planner.log").open("wb")
    daemon = subprocess.Popen([sys.executable, "-m", "planner", "run", "--config", str(tmp / "planner.yaml")],
                              stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
    plugins: list[Plugin] = []
    try:
        poll(lambda: len(records(tmp / "decisions.jsonl")) >= 1, 60, "the planner's first tick", daemon)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        sdk = Plugin(subprocess.Popen(
            [sys.executable, str(TESTS / "remote_plugins.py"), "paced_floor", registry, "--id", "sdk_floor",
             "--token", TOKEN, "--interval", str(sdk_interval), "--decode", str(decode_floor)],
            stdout=subprocess.PIPE, text=True, env=env,
        ))  # fmt: skip
        plugins.append(sdk)
        stub = Plugin(subprocess.Popen(
            [sys.executable, str(TESTS / "stub_plugin.py"), str(generate_stubs(tmp / "stubs")), registry,
             "--token", TOKEN, "--id", "stub_floor", "--interval", str(2 * sdk_interval),
             "--prefill", str(prefill_floor), "--listen", f"unix://{tmp}/stub.sock"],
            stdout=subprocess.PIPE, text=True, env=env,
        ))  # fmt: skip
        plugins.append(stub)
        # Long enough to outlive a lease (wall time) at either speed, and for the stub (which compiles
        # its stubs first, slower on a busy machine) to have answered a few times beside the SDK plugin.
        calls = math.ceil((LEASE_WALL_S + 2.0) * speed / sdk_interval)
        poll(lambda: len(sdk.times("called")) >= calls and len(stub.times("called")) >= STUB_CALLS,
             LEASE_WALL_S + 60, f"{calls} calls of the SDK plugin and {STUB_CALLS} of the stub", daemon)  # fmt: skip
        listed = subprocess.run(
            [sys.executable, "-m", "planner", "plugins", "list", "--registry", registry, "--token", TOKEN],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        stub.process.send_signal(signal.SIGTERM)  # it unregisters
        stub.process.wait(15)
        poll(lambda: "stub_floor unregistered" in (tmp / "planner.log").read_text(), 15, "unregistration", daemon)
    finally:
        daemon.send_signal(signal.SIGTERM)  # first: a plugin gone before the planner would fail its last call
        daemon.wait(30)
        log.close()
        for plugin in plugins:
            plugin.process.kill()
            plugin.process.wait(15)
    for plugin in plugins:
        plugin.read_available()
    return Run(speed, sdk_interval, (tmp / "planner.log").read_text(), records(tmp / "decisions.jsonl"), sdk, stub,
               listed)  # fmt: skip


def calls(run: Run, plugin_id: str) -> list[tuple[float, str]]:
    """(slot, status) of the plugin's calls from its first successful one to the last tick it was in."""
    seen = [
        (r["slot_seconds"], next((c["status"] for c in r["calls"] if c["plugin_id"] == plugin_id), "absent"))
        for r in run.records
    ]
    first = next(i for i, (_, status) in enumerate(seen) if status == "ok")
    last = max(i for i, (_, status) in enumerate(seen) if status != "absent")
    return seen[first : last + 1]


@pytest.fixture(scope="module", params=[1.0, 20.0], ids=["speed1", "speed20"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    speed = float(request.param)
    tmp = tmp_path_factory.mktemp(f"s{speed:g}", numbered=True)
    # At speed 20 the floors fit the default budget of 8 GPUs; at speed 1 the decode floor does not.
    decode_floor = 4 if speed == 20 else 7
    return run_daemon_with_plugins(tmp, speed, decode_floor, prefill_floor=3)


def test_remote_plugins_stay_registered_for_the_whole_run(run: Run) -> None:
    assert "evicted" not in run.daemon_log
    assert len(run.sdk.times("registered")) == 1
    assert len(run.stub.times("registered")) == 1
    assert "forgotten" not in run.stub.lines
    assert "sdk_floor" in run.listed
    assert "stub_floor" in run.listed
    wall = run.sdk.times("called")[-1] - run.sdk.times("registered")[0]
    assert wall > LEASE_WALL_S  # the run outlived a lease


@pytest.mark.parametrize("plugin", ["sdk", "stub"])
def test_a_joining_plugin_is_first_called_within_one_of_its_intervals(run: Run, plugin: str) -> None:
    process: Plugin = getattr(run, plugin)
    interval_wall = (run.sdk_interval if plugin == "sdk" else 2 * run.sdk_interval) / run.speed
    waited = process.times("called")[0] - process.times("registered")[0]
    assert waited <= interval_wall + 0.5  # the builtins' 180 s slot is not waited for


@pytest.mark.parametrize("plugin", ["sdk", "stub"])
def test_a_plugin_is_called_on_every_tick_it_is_due_and_only_then(run: Run, plugin: str) -> None:
    interval = run.sdk_interval if plugin == "sdk" else 2 * run.sdk_interval
    seen = calls(run, f"{plugin}_floor")
    assert {status for _, status in seen} <= {"ok", "not_due"}, seen  # never absent, never failed
    ok = [slot for slot, status in seen if status == "ok"]
    assert [b - a for a, b in itertools.pairwise(ok)] == [interval] * (len(ok) - 1)
    assert len(ok) >= 6
    assert len(ok) == len(getattr(run, plugin).times("called"))  # each call recorded reached the plugin


def test_calls_come_at_the_plugins_interval_in_wall_time(run: Run) -> None:
    called = run.sdk.times("called")
    gaps = [b - a for a, b in itertools.pairwise(called)]
    interval_wall = run.sdk_interval / run.speed
    assert max(gaps) < 2 * interval_wall, gaps
    assert sum(gaps) / len(gaps) == pytest.approx(interval_wall, rel=0.2)


def test_the_floors_are_applied_unless_the_budget_cuts_them_and_every_cut_is_logged(run: Run) -> None:
    """Each plugin keeps the phase of the slot it joined in, so the two may answer in different ticks:
    every tick checks the floor of each plugin that answered in it."""
    floor_of = {"sdk_floor": ("decode", 4 if run.speed == 20 else 7), "stub_floor": ("prefill", 3)}
    answered = {r["tick_id"]: {c["plugin_id"] for c in r["calls"] if c["status"] == "ok"} & FLOORS for r in run.records}
    floored = [r for r in run.records if answered[r["tick_id"]]]
    for plugin in FLOORS:
        assert sum(plugin in answered[r["tick_id"]] for r in floored) >= 3, plugin
    for record in floored:
        budget_cuts = [c for c in record["cuts"] if c["reason"] == "budget_capped"]
        for cut in budget_cuts:
            said = f"{cut['role']} asked {cut['asked']}, kept {cut['kept']} (budget_capped: max_gpu_budget=8)"
            lines = [line for line in run.daemon_log.splitlines() if f"tick {record['tick_id']} |" in line]
            assert any(said in line for line in lines), (said, lines)
        cut_roles = {c["role"] for c in budget_cuts}
        floors = dict(floor_of[plugin] for plugin in answered[record["tick_id"]])
        assert all(record["targets"][role] >= n for role, n in floors.items() if role not in cut_roles), record
    with_sdk = [r for r in floored if "sdk_floor" in answered[r["tick_id"]]]
    if run.speed == 1:  # 7 decode beside 3 prefill do not fit the default 8 GPUs
        assert any(c["role"] == "decode" and c["asked"] >= 7 for r in with_sdk for c in r["cuts"])
    else:  # 4 decode do
        assert any(not r["cuts"] and r["targets"]["decode"] >= 4 for r in with_sdk)
