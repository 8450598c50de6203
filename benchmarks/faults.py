"""Fault matrix: the planner on the simulated deployment through one fault at a time, with counts.

    python benchmarks/faults.py [--fault NAME ...] [--seconds S] [--json OUT]

Each row runs the planner in-process (embedded simulated deployment, the bundled Mooncake trace,
10 s throughput interval) on a clock 20 times faster than wall time, for `--seconds` simulated
seconds, with one fault: a real remote plugin process misbehaving (tests/remote_plugins.py), the
metrics source (a stand-in Prometheus HTTP server) down or wrong, the connector failing, a flood of
registrations, or the whole daemon SIGKILLed mid-run and started again. The decision record is then
checked (planner/sim/invariants.py): applies outside the limits, decision ids handed out twice or
going back, applies by ticks past their deadline. `lag p99` is how late ticks started (wall ms).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import grpc.aio

from planner import Planner, PlannerConfig, ScaledClock, TickRecord
from planner.sim.faults import FaultSwitch, FaultyConnector
from planner.sim.invariants import InvariantReport, check_run
from planner.sim.world import SimulatedDeployment, embedded_trace
from planner_sdk import Decision, PluginSpec, Stage
from planner_sdk import _wire as wire
from planner_sdk._grpc import registry_grpc
from planner_sdk._proto.planner.v1 import registry_pb2 as rpb

SPEED = 20.0
TESTS = Path(__file__).resolve().parents[1] / "tests"  # its fault plugins and stand-ins of other services
PLUGINS = TESTS / "remote_plugins.py"
sys.path.insert(0, str(TESTS))
from http_harness import serve_handler  # noqa: E402
from prometheus_harness import free_port  # noqa: E402


@dataclass(frozen=True)
class Fault:
    name: str
    plugin: str | None = None  # a remote_plugins.py kind
    metrics: str | None = None  # down | slow | nan | garbage
    connector: str | None = None  # a planner.sim.faults connector fault
    flood: bool = False
    kill: bool = False
    kube: tuple[int, float] | None = None  # the Kubernetes API stand-in answers /scale writes (status, delay)


FAULTS = [
    Fault("plugin hangs", plugin="hang"),
    Fault("plugin slow", plugin="slow"),
    Fault("plugin crashes mid-call", plugin="crash"),
    Fault("negative targets", plugin="negative"),
    Fault("huge targets", plugin="huge"),
    Fault("NaN forecast", plugin="nan_forecast"),
    Fault("wrong stage", plugin="wrong_stage"),
    Fault("oversized answer", plugin="oversized"),
    Fault("heartbeats lost", plugin="silent"),
    Fault("registration flood", flood=True),
    Fault("metrics down", metrics="down"),
    Fault("metrics slow", metrics="slow"),
    Fault("metrics NaN", metrics="nan"),
    Fault("metrics garbage", metrics="garbage"),
    Fault("connector conflict (409)", connector="connector_conflict"),
    Fault("connector unavailable (5xx)", connector="connector_unavailable"),
    Fault("connector hangs", connector="connector_hang"),
    Fault("k8s /scale 409 conflicts", kube=(409, 0.0)),
    Fault("k8s /scale 503", kube=(503, 0.0)),
    Fault("k8s /scale slower than timeout", kube=(200, 2.0)),
    Fault("SIGKILL mid-run, restart", kill=True),
]


@dataclass
class Row:
    fault: str
    invariants: InvariantReport
    crashed: int = 0
    evicted: int = 0
    registered: int = 0
    lag_p99_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


class StandInPrometheus(http.server.BaseHTTPRequestHandler):
    mode = "nan"

    def do_GET(self) -> None:
        if self.mode == "slow":
            time.sleep(2.0)
        body = b"<html>not an API</html>"
        if self.mode in ("nan", "slow"):
            vector = [{"metric": {}, "value": [time.time(), "NaN"]}]
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": vector}}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the planner's query timed out and hung up first

    def log_message(self, *args: Any) -> None:
        return None


class RegistryEvents(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if " evicted: " in message:  # the warning (the drop that follows logs "evicted" again)
            self.counts["evicted"] += 1
        elif " registered from " in message:
            self.counts["registered"] += 1


def lag_p99_ms(planner: Planner) -> float:
    """The 99th percentile of how late ticks started, in wall milliseconds."""
    jitter = sorted(planner.scheduler.stats.jitter_seconds)
    return jitter[int(0.99 * (len(jitter) - 1))] / SPEED * 1000.0 if jitter else 0.0


def fault_config(tmp: Path, fault: Fault, prometheus: str | None) -> PlannerConfig:
    return PlannerConfig(
        optimization_target="sla", ttft_ms=3000, itl_ms=25, throughput_adjustment_interval_seconds=10,
        max_gpu_budget=16, metric_pulling_prometheus_endpoint=prometheus,
        prometheus={"request_timeout_seconds": 0.5},
        plugin_registration={
            "endpoints": [f"unix://{tmp}/registry.sock"], "allow_insecure": True, "heartbeat_interval_seconds": 0.5,
            "registrations_per_minute": 60, "transport": {"request_timeout_seconds": 0.3},
        },
        scheduling={"tick_max_duration_seconds": 10.0},
        decision_record_path=str(tmp / "decisions.jsonl"),
    )  # fmt: skip


async def flood(address: str, stop: anyio.Event) -> None:
    """1,000 registrations a minute, each under a new id, until told to stop."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = registry_grpc.PluginRegistryStub(channel)
        n = 0
        while not stop.is_set():
            spec = PluginSpec(id=f"flood_{n}", stage=Stage.PROPOSE, execution_interval_seconds=10.0)
            request = rpb.RegisterRequest(declaration=wire.declaration_to_proto(spec), endpoint="unix:///nowhere",
                                          protocol_versions=[wire.PROTOCOL_VERSION])  # fmt: skip
            await stub.Register(request, timeout=1.0)
            n += 1
            await anyio.sleep(0.06)


async def run_in_process(fault: Fault, tmp: Path, seconds: float) -> Row:
    with contextlib.ExitStack() as stack:
        prometheus = None
        if fault.metrics == "down":
            prometheus = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        elif fault.metrics:
            prometheus = stack.enter_context(
                serve_handler(type("Handler", (StandInPrometheus,), {"mode": fault.metrics}))
            )
        return await _run_in_process(fault, tmp, seconds, prometheus)


async def _run_in_process(fault: Fault, tmp: Path, seconds: float, prometheus: str | None) -> Row:
    config = fault_config(tmp, fault, prometheus)
    clock = ScaledClock(SPEED)
    world = SimulatedDeployment(config, clock, embedded_trace(config))
    switch = FaultSwitch()
    switch.turn_on(fault.connector)
    connector = FaultyConnector(world.connector, switch)
    records: list[TickRecord] = []
    events = RegistryEvents()
    remote_log = logging.getLogger("planner.remote")
    remote_log.addHandler(events)
    remote_log.setLevel(logging.INFO)
    remote_log.propagate = False
    row = Row(fault.name, InvariantReport())
    process = None
    try:
        planner = Planner(config, clock=clock, connector=connector, plugins=world.plugins, on_record=records.append)
        async with planner:
            assert planner.remote is not None
            address = planner.remote.addresses[0]
            if fault.plugin:
                interval = str(config.throughput_adjustment_interval_seconds)
                command = [
                    sys.executable,
                    str(PLUGINS),
                    fault.plugin,
                    address,
                    "--id",
                    "faulty",
                    "--interval",
                    interval,
                ]
                process = subprocess.Popen(  # noqa: ASYNC220 (started once, never awaited in the loop)
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                with anyio.move_on_after(10):
                    while planner.registry.get("faulty") is None:  # noqa: ASYNC110 (another process)
                        await anyio.sleep(0.02)
            clock.restart()
            stop = anyio.Event()
            try:
                async with anyio.create_task_group() as group:
                    if fault.flood:
                        group.start_soon(flood, address, stop)
                    group.start_soon(planner.run)
                    await clock.sleep_until(seconds)
                    stop.set()
                    planner.stop()
            except Exception:  # the daemon would have died: the worst outcome a row can show
                row.crashed += 1
            row.lag_p99_ms = lag_p99_ms(planner)
    finally:
        remote_log.removeHandler(events)
        if process is not None:
            process.kill()
            process.wait(10)
    row.invariants = check_run(records, config, connector.handed_out)
    row.evicted, row.registered = events.counts["evicted"], events.counts["registered"]
    row.statuses = dict(Counter(f"{c.plugin_id}:{c.status}" for r in records for c in r.calls if c.status != "ok"
                                and c.status != "not_due"))  # fmt: skip
    return row


async def run_on_kubernetes(fault: Fault, tmp: Path, seconds: float) -> Row:
    """The Kubernetes connector against the API stand-in (tests/kube_apiserver.py), whose /scale
    writes fail (or stall past the client's timeout) twice in a row, twice over; a proposal that
    changes the fleet every tick keeps the connector writing."""
    from helpers import CyclingPropose
    from kube_apiserver import Fault as ApiFault
    from kube_apiserver import kubeconfig, serve
    from kube_fixtures import NS, TARGETS, deployment_standin, make_config, ready_at_once
    from planner.connectors.kubernetes import KubernetesConnector

    assert fault.kube is not None
    status, delay = fault.kube
    standin = deployment_standin()
    ready_at_once(standin)
    for _ in range(2):
        standin.faults.append(ApiFault("PATCH", "/scale", status=status, delay_s=delay, times=2))
    handed_out: list[int] = []

    class Recording(KubernetesConnector):
        async def apply(self, decision: Decision) -> Any:
            handed_out.append(decision.decision_id)
            return await super().apply(decision)

    with serve(standin) as url:
        (tmp / "kubeconfig").write_text(kubeconfig(url, NS))
        config = make_config(tmp / "kubeconfig", kubernetes={"targets": TARGETS},
                             scheduling={"tick_max_duration_seconds": 10.0})  # fmt: skip
        config = config.model_copy(update={"max_gpu_budget": 16})
        clock = ScaledClock(SPEED)
        records: list[TickRecord] = []
        row = Row(fault.name, InvariantReport())
        planner = Planner(config, clock=clock, connector=Recording(config, clock), plugins=[CyclingPropose(10.0)],
                          discover=False, on_record=records.append)  # fmt: skip
        try:
            async with planner, anyio.create_task_group() as group:
                group.start_soon(planner.run)
                await clock.sleep_until(seconds)
                planner.stop()
        except Exception:
            row.crashed += 1
        row.lag_p99_ms = lag_p99_ms(planner)
    row.invariants = check_run(records, config, handed_out)
    row.statuses = dict(Counter(r.outcome for r in records if r.outcome != "applied"))
    return row


def run_killed(tmp: Path) -> Row:
    """`planner run` SIGKILLed after a few decisions and started again on the same record."""
    record = tmp / "decisions.jsonl"
    command = [sys.executable, "-m", "planner", "run", "--speed", "200", "--duration", "100000",
               "--set", f"decision_record_path={record}"]  # fmt: skip

    def lines() -> list[dict[str, Any]]:
        text = record.read_text(encoding="utf-8") if record.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def decided() -> int:
        return sum(1 for r in lines() if r.get("decision_id") is not None)

    row = Row("SIGKILL mid-run, restart", InvariantReport())
    for signal_number, more in ((9, 3), (15, 3)):
        target = decided() + more
        daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while decided() < target and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if daemon.poll() is not None:  # it ended by itself before the signal: a crash
            row.crashed += 1
        else:
            os.kill(daemon.pid, signal_number)
            daemon.wait(30)
    from planner.cli import DEMO_CONFIG
    from planner.config import load_config

    row.invariants = check_run(lines(), load_config(DEMO_CONFIG))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", action="append", help="run only these (names as in the table)")
    parser.add_argument("--seconds", type=float, default=200.0, help="simulated seconds per fault")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    faults = [f for f in FAULTS if not args.fault or f.name in args.fault]
    header = (f"{'fault':<30} {'ticks':>5} {'applied':>7} {'crash':>5} {'outside':>7} {'dup':>3} {'id<':>3} "
              f"{'late':>4} {'evict':>5} {'reg':>3} {'lag p99':>8}  failed calls (k8s: tick outcomes)")  # fmt: skip
    print(header)
    print("-" * len(header), flush=True)
    rows = []
    for fault in faults:
        with tempfile.TemporaryDirectory(prefix="planner-fault-") as directory:
            tmp = Path(directory)
            if fault.kill:
                row = run_killed(tmp)
            elif fault.kube:
                row = anyio.run(run_on_kubernetes, fault, tmp, args.seconds)
            else:
                row = anyio.run(run_in_process, fault, tmp, args.seconds)
        rows.append(row)
        inv = row.invariants
        failed = ", ".join(f"{k} x{v}" for k, v in sorted(row.statuses.items()))[:70]
        print(f"{row.fault:<30} {inv.ticks:>5} {inv.applied:>7} {row.crashed:>5} {inv.outside_limits:>7} "
              f"{inv.duplicate_applies:>3} {inv.id_regressions:>3} {inv.late_applies:>4} {row.evicted:>5} "
              f"{row.registered:>3} {row.lag_p99_ms:>6.1f}ms  {failed}", flush=True)  # fmt: skip
        for problem in inv.problems[:3]:
            print(f"    ! {problem}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
