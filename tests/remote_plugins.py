"""Remote plugins for the e2e tests, each in its own process: `python remote_plugins.py KIND PLANNER ...`.

Kinds: floor (asks for >= 3 decode), paced_floor (asks for >= `--decode` decode every `--interval`
planner seconds, printing when it registered and each time it is called), ack (acknowledges
decisions), hang (never answers), leaving (unregisters mid-call), slow (answers after its timeout),
crash (dies mid-call), negative (asks for -2 replicas), huge (asks for 10^9 decode), nan_forecast
(a NaN / negative / infinite forecast), oversized (a 5 MiB answer), wrong_stage (declares propose,
serves clamp), silent (registers, never heartbeats), old_protocol (speaks only v9).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import time

import anyio
import grpc.aio

from planner_sdk import (
    ApplyAck,
    ApplyPlugin,
    ClampPlugin,
    Decision,
    PluginServer,
    PluginSpec,
    Predictions,
    PredictPlugin,
    PredictResult,
    ProposePlugin,
    ProposeResult,
    ReplicaTarget,
    Role,
    Stage,
    TickContext,
    run,
    serve,
)
from planner_sdk import _wire as wire
from planner_sdk._grpc import registry_grpc
from planner_sdk._proto.planner.v1 import registry_pb2 as rpb
from planner_sdk._types import Bound, Verdict

INTERVAL = 0.1  # planner seconds; `--interval` sets it (a sped-up planner ticks faster in wall time)


def spec(plugin_id: str, stage: Stage = Stage.PROPOSE) -> PluginSpec:
    return PluginSpec(id=plugin_id, stage=stage, execution_interval_seconds=INTERVAL, timeout_seconds=0.3)


class Floor(ProposePlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.at_least({Role.DECODE: 3}, reason="remote floor")


class PacedFloor(ProposePlugin):
    """A floor at the interval the test asks for, printing `called <wall monotonic>` for each call."""

    def __init__(self, plugin_id: str, interval: float, decode: int) -> None:
        self.spec = PluginSpec(id=plugin_id, stage=Stage.PROPOSE, execution_interval_seconds=interval,
                               timeout_seconds=2.0)  # fmt: skip
        self.decode = decode

    async def propose(self, ctx: TickContext) -> ProposeResult:
        print(f"called {time.monotonic():.3f}", flush=True)
        return ProposeResult.at_least({Role.DECODE: self.decode}, reason="paced floor")


async def serve_and_report(plugin: ProposePlugin, planner: str, token: str | None) -> None:
    """`serve()`, printing `registered <wall monotonic>` once the planner has admitted the plugin."""
    registered = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: serve(plugin, planner, token=token, registered=registered))
        await registered.wait()
        print(f"registered {time.monotonic():.3f}", flush=True)


class Hang(ProposePlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    def propose(self, ctx: TickContext) -> ProposeResult:
        time.sleep(3600)
        raise AssertionError("unreachable")


class Crash(ProposePlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    def propose(self, ctx: TickContext) -> ProposeResult:
        os._exit(3)


class Negative(ProposePlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult(Verdict.OVERRIDE, (ReplicaTarget(Role.DECODE, Bound.SET, -2),))


class Slow(ProposePlugin):
    """Answers a second after its 0.3 s timeout, every time."""

    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        await anyio.sleep(1.3)
        return ProposeResult.at_least({Role.DECODE: 3})


class Leaving(ProposePlugin):
    """Says goodbye (SIGTERM to itself: the SDK unregisters) in the middle of its first call."""

    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep(0.2)  # within its 0.3 s timeout: only the unregistration can cut it short
        return ProposeResult.at_least({Role.DECODE: 3})


class Huge(ProposePlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.set({Role.DECODE: 10**9})


class NanForecast(PredictPlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id, Stage.PREDICT)

    async def predict(self, ctx: TickContext) -> PredictResult:
        return PredictResult(Predictions(num_requests=math.nan, isl=-5.0, osl=math.inf))


class Oversized(ProposePlugin):
    """An answer bigger than the planner takes (4 MiB by default)."""

    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.at_least({Role.DECODE: 3}, reason="x" * (5 * 1024 * 1024))


class Acknowledge(ApplyPlugin):
    """Acknowledges every decision, printing it so the test can see what arrived."""

    def __init__(self, plugin_id: str) -> None:
        self.spec = PluginSpec(id=plugin_id, stage=Stage.APPLY, execution_interval_seconds=0.1, timeout_seconds=0.5)

    async def apply(self, ctx: TickContext, decision: Decision) -> ApplyAck:
        print(
            f"decision {decision.decision_id} {sorted((r.value, n) for r, n in decision.targets.items())}", flush=True
        )
        return ApplyAck(decision.decision_id, accepted=True, message="done")


class ClampInstead(ClampPlugin):
    """Declares itself a propose plugin but only serves the Clamp service."""

    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id, Stage.CLAMP)

    async def clamp(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.at_most({Role.DECODE: 1})


async def register_by_hand(
    plugin: ProposePlugin | ClampPlugin, planner: str, token: str | None, protocol: str, declared: PluginSpec
) -> None:
    """Serve, register once with what the test wants declared, then never heartbeat."""
    server = PluginServer(plugin)
    endpoint = await server.start()
    async with grpc.aio.insecure_channel(planner) as channel:
        stub = registry_grpc.PluginRegistryStub(channel)
        answer = await stub.Register(
            rpb.RegisterRequest(
                declaration=wire.declaration_to_proto(declared), endpoint=endpoint, protocol_versions=[protocol]
            ),
            metadata=[("authorization", f"Bearer {token}")] if token else [],
        )
        print(f"accepted={answer.accepted} reason={answer.reason}", flush=True)
    await anyio.sleep(3600)


class Traced(ProposePlugin):
    """A floor whose work is a span of its own (under the SDK's server span, so under the planner's tick)."""

    def __init__(self, plugin_id: str) -> None:
        self.spec = spec(plugin_id, Stage.PROPOSE)

    def propose(self, ctx: TickContext) -> ProposeResult:
        from opentelemetry import trace

        with trace.get_tracer("traced_plugin").start_as_current_span("traced plugin work"):
            return ProposeResult.at_least({Role.DECODE: 2}, reason="traced floor")


def trace_to_file(path: str) -> None:
    """What a plugin author does to see their spans: a provider, here writing each span as a JSON line."""
    import json
    from collections.abc import Sequence

    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class JsonLines(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            with open(path, "a", encoding="utf-8") as out:
                for span in spans:
                    context, parent = span.get_span_context(), span.parent
                    out.write(json.dumps({
                        "name": span.name, "trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}",
                        "parent_id": None if parent is None else f"{parent.span_id:016x}",
                    }) + "\n")  # fmt: skip
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines()))
    trace.set_tracer_provider(provider)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind")
    parser.add_argument("planner")
    parser.add_argument("--id", default="remote_plugin")
    parser.add_argument("--token")
    parser.add_argument("--token-file")
    parser.add_argument("--interval", type=float)
    parser.add_argument("--decode", type=int, default=3)
    args = parser.parse_args()
    global INTERVAL
    INTERVAL = args.interval or INTERVAL
    kinds = {
        "floor": Floor, "hang": Hang, "crash": Crash, "negative": Negative, "ack": Acknowledge, "slow": Slow,
        "huge": Huge, "leaving": Leaving, "nan_forecast": NanForecast, "oversized": Oversized,
    }  # fmt: skip
    if args.kind in kinds:
        run(kinds[args.kind](args.id), args.planner, token=args.token, token_file=args.token_file)
    elif args.kind == "traced":
        trace_to_file(os.environ["PLANNER_TEST_SPANS"])
        run(Traced(args.id), args.planner, token=args.token)
    elif args.kind == "paced_floor":
        anyio.run(serve_and_report, PacedFloor(args.id, args.interval or 10.0, args.decode), args.planner, args.token)
    elif args.kind == "wrong_stage":
        plugin = ClampInstead(args.id)
        anyio.run(register_by_hand, plugin, args.planner, args.token, "v1", spec(args.id, Stage.PROPOSE))
    elif args.kind == "silent":
        plugin = Floor(args.id)
        anyio.run(register_by_hand, plugin, args.planner, args.token, "v1", plugin.spec)
    elif args.kind == "old_protocol":
        plugin = Floor(args.id)
        anyio.run(register_by_hand, plugin, args.planner, args.token, "v9", plugin.spec)
    else:
        raise SystemExit(f"unknown kind {args.kind!r}")


if __name__ == "__main__":
    main()
