"""Remote plugin call overhead against the bare-grpcio floor, fan-out, and timeout precision.

    python benchmarks/remote_overhead.py [--calls 5000] [--json OUT]

Every plugin runs in its own process (a no-op propose plugin served by the SDK's PluginServer).
Measured from the planner's side with its RemoteTransport and stage runner:
  - one plugin, loopback TCP and Unix socket: call latency p50/p99;
  - the floor: the standard gRPC health Check with bare grpcio to the same process, one at a
    time and 32 at once (one per process);
  - 1, 8 and 32 plugins in one stage: stage time p50/p99;
  - a hung plugin with a 50 ms timeout: how late the stage returns (p99).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import anyio
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from planner import WallClock
from planner.pipeline.invoke import CallSettings, run_concurrently
from planner.registry import CircuitBreaker, PluginRegistry
from planner.remote.transport import RemoteTransport
from planner_sdk import PlannerView, PluginSpec, Role, Stage, TickContext

SERVER = """
import sys, time, anyio
from planner_sdk import PluginServer, PluginSpec, ProposePlugin, ProposeResult, Stage

class Noop(ProposePlugin):
    spec = PluginSpec(id="noop", stage=Stage.PROPOSE, execution_interval_seconds=1)
    async def propose(self, ctx):
        if sys.argv[2] == "hang":
            await anyio.sleep(3600)
        return ProposeResult.accept()

async def main():
    server = PluginServer(Noop(), sys.argv[1])
    print(await server.start(), flush=True)
    await anyio.sleep_forever()

anyio.run(main)
"""


NO_BREAKER = CircuitBreaker(failures=10**9)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_servers(listens: list[str], mode: str = "noop") -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    processes = [
        subprocess.Popen([sys.executable, "-c", SERVER, listen, mode], stdout=subprocess.PIPE) for listen in listens
    ]
    endpoints = []
    for process in processes:
        assert process.stdout is not None
        endpoints.append(process.stdout.readline().decode().strip())
    return processes, endpoints


def context() -> TickContext:
    view = PlannerView("disagg", (Role.PREFILL, Role.DECODE), "sla", 500, 50, -1, {}, {})
    return TickContext(1, 1, 0.0, view)


def spec(i: int, timeout: float = 5.0) -> PluginSpec:
    return PluginSpec(id=f"p{i}", stage=Stage.PROPOSE, execution_interval_seconds=1, timeout_seconds=timeout)


async def call_latency(endpoint: str, calls: int) -> list[float]:
    transport = RemoteTransport(spec(0), endpoint, 4 << 20)
    ctx = context()
    samples = []
    for i in range(calls + 100):
        started = time.perf_counter()
        await transport.invoke(ctx, None, 5.0)
        if i >= 100:
            samples.append((time.perf_counter() - started) * 1000)
    await transport.aclose()
    return samples


async def bare_latency(endpoints: list[str], calls: int) -> list[float]:
    """Health Check with bare grpcio: one call to each endpoint at once, `calls` times."""
    channels = [grpc.aio.insecure_channel(e) for e in endpoints]
    stubs = [health_pb2_grpc.HealthStub(c) for c in channels]
    request = health_pb2.HealthCheckRequest()

    async def check(stub: health_pb2_grpc.HealthStub) -> None:
        await stub.Check(request)

    samples = []
    for i in range(calls + 20):
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for stub in stubs:
                group.start_soon(check, stub)
        if i >= 20:
            samples.append((time.perf_counter() - started) * 1000)
    for channel in channels:
        await channel.close(None)
    return samples


async def stage_latency(endpoints: list[str], rounds: int, plugin_timeout: float = 5.0) -> list[float]:
    registry = PluginRegistry()
    for i, endpoint in enumerate(endpoints):
        transport = RemoteTransport(spec(i, plugin_timeout), endpoint, 4 << 20)
        registry.add(transport, source="bench", timeout_seconds=plugin_timeout)
    entries = registry.for_stage(Stage.PROPOSE)
    clock, ctx = WallClock(), context()
    samples = []
    for i in range(rounds + 20):
        # No circuit breaker: the hung plugin must be called (and cut) every round.
        settings = CallSettings(clock, clock.monotonic() + 30.0, (Role.PREFILL, Role.DECODE), 1000, NO_BREAKER)
        started = time.perf_counter()
        await run_concurrently(entries, ctx, Fraction(10**6 + i), settings)
        if i >= 20:
            samples.append((time.perf_counter() - started) * 1000)
    for entry in entries:
        await entry.transport.aclose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=300, help="rounds of the fan-out and timeout measurements")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            tcp, [tcp_endpoint] = start_servers(["127.0.0.1:0"])
            uds, [uds_endpoint] = start_servers([f"unix://{directory}/noop.sock"])
            many, endpoints = start_servers(["127.0.0.1:0"] * 32)
            hung, [hung_endpoint] = start_servers(["127.0.0.1:0"], "hang")
            processes = tcp + uds + many + hung
            tcp_ms = anyio.run(call_latency, tcp_endpoint, args.calls)
            uds_ms = anyio.run(call_latency, uds_endpoint, args.calls)
            bare_ms = anyio.run(bare_latency, [tcp_endpoint], args.calls)
            bare32_ms = anyio.run(bare_latency, endpoints, args.rounds)
            fan = {n: anyio.run(stage_latency, endpoints[:n], args.rounds) for n in (1, 8, 32)}
            hung_ms = anyio.run(stage_latency, [hung_endpoint], max(args.rounds // 3, 30), 0.05)
    finally:
        for process in processes:
            process.kill()
    figures = {
        "tcp_p50_ms": percentile(tcp_ms, 50), "tcp_p99_ms": percentile(tcp_ms, 99),
        "uds_p50_ms": percentile(uds_ms, 50), "uds_p99_ms": percentile(uds_ms, 99),
        "bare_tcp_p50_ms": percentile(bare_ms, 50),
        "fanout32_p50_ms": percentile(fan[32], 50), "bare_fanout32_p50_ms": percentile(bare32_ms, 50),
        "timeout_overshoot_p99_ms": percentile([m - 50.0 for m in hung_ms], 99),
    }  # fmt: skip
    figures["overhead_ratio_p50"] = figures["tcp_p50_ms"] / figures["bare_tcp_p50_ms"]
    figures["fanout_ratio"] = figures["fanout32_p50_ms"] / figures["bare_fanout32_p50_ms"]
    print(f"{'measure':<46} {'p50 ms':>8} {'p99 ms':>8}")
    rows = [
        ("remote call, loopback TCP", tcp_ms), ("remote call, Unix socket", uds_ms),
        ("bare grpcio health Check, TCP", bare_ms), ("bare grpcio, 32 concurrent (32 processes)", bare32_ms),
        *((f"stage with {n} remote plugin(s)", fan[n]) for n in (1, 8, 32)),
        ("stage with a hung plugin, 50 ms timeout", hung_ms),
    ]  # fmt: skip
    for name, values in rows:
        print(f"{name:<46} {percentile(values, 50):>8.3f} {percentile(values, 99):>8.3f}")
    print(
        f"\ncall p50 / bare p50 = {figures['overhead_ratio_p50']:.2f} (target <= 1.5); "
        f"32-plugin stage p50 / bare 32 = {figures['fanout_ratio']:.2f} (target <= 1.5); "
        f"timeout overshoot p99 = {figures['timeout_overshoot_p99_ms']:.1f} ms (target <= 20)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({k: round(v, 4) for k, v in figures.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
