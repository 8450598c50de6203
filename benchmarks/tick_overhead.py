"""Per-tick overhead of the pipeline and tick-start jitter of the scheduler, on the wall clock.

    python benchmarks/tick_overhead.py [--ticks N] [--json OUT]

Overhead: one tick through all stages with 10 in-process no-op plugins per stage (observe,
predict, propose, clamp; the proposers accept, so apply is not reached), timed with
perf_counter; once with tracing off (the default) and once with an OpenTelemetry SDK provider
batching every span (45 per tick) to an exporter that drops them.

Jitter: 1,000 ticks at a 10 ms base on the real clock; how late each tick started, and how far
the last tick is from t0 + k*base (cumulative drift).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from fractions import Fraction

import anyio
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from planner import InMemoryConnector, Planner, PlannerConfig, WallClock
from planner_sdk import (
    ClampPlugin,
    Observations,
    ObservePlugin,
    PluginSpec,
    Predictions,
    PredictPlugin,
    PredictResult,
    ProposePlugin,
    ProposeResult,
    Role,
    Stage,
    TickContext,
)


class NoopObserve(ObservePlugin):
    def __init__(self, i: int, interval: float) -> None:
        self.spec = PluginSpec(id=f"observe{i}", stage=Stage.OBSERVE, execution_interval_seconds=interval)

    async def observe(self, ctx: TickContext) -> Observations:
        return Observations()


class NoopPredict(PredictPlugin):
    def __init__(self, i: int, interval: float) -> None:
        self.spec = PluginSpec(id=f"predict{i}", stage=Stage.PREDICT, execution_interval_seconds=interval)

    async def predict(self, ctx: TickContext) -> PredictResult:
        return PredictResult(Predictions())


class NoopPropose(ProposePlugin):
    def __init__(self, i: int, interval: float) -> None:
        self.spec = PluginSpec(id=f"propose{i}", stage=Stage.PROPOSE, execution_interval_seconds=interval)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.accept()


class NoopClamp(ClampPlugin):
    def __init__(self, i: int, interval: float) -> None:
        self.spec = PluginSpec(id=f"clamp{i}", stage=Stage.CLAMP, execution_interval_seconds=interval)

    async def clamp(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.accept()


def noop_plugins(per_stage: int, interval: float) -> list[object]:
    kinds = (NoopObserve, NoopPredict, NoopPropose, NoopClamp)
    return [kind(i, interval) for kind in kinds for i in range(per_stage)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class DroppingExporter(SpanExporter):
    """Takes spans off the batch queue and forgets them: the planner's side of tracing, alone."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def measure_overhead(ticks: int, provider: TracerProvider | None = None) -> list[float]:
    clock = WallClock()
    connector = InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1})
    config = PlannerConfig(environment="virtual", tracing={"exporter": "none"})
    plugins = noop_plugins(10, 5.0)
    async with Planner(config, clock=clock, connector=connector, plugins=plugins, discover=False,
                       tracer_provider=provider) as p:  # fmt: skip
        samples = []
        for k in range(ticks + 50):
            started = time.perf_counter()
            await p.pipeline.run_tick(k + 1, Fraction(5 * k))  # every plugin due every tick
            if k >= 50:  # warm-up
                samples.append((time.perf_counter() - started) * 1e6)
    return samples


async def measure_jitter(ticks: int, base: float) -> tuple[list[float], float]:
    """Start lateness of each tick, and of the last one against t0 + k*base (the drift)."""
    clock = WallClock()
    connector = InMemoryConnector(clock, {Role.PREFILL: 1, Role.DECODE: 1})
    config = PlannerConfig(environment="virtual")
    async with Planner(config, clock=clock, connector=connector, plugins=[NoopPropose(0, base)], discover=False) as p:
        stats = await p.run(max_ticks=ticks)
    jitter_ms = [j * 1000 for j in stats.jitter_seconds]
    # Every tick is scheduled on the grid t0 + k*base, so the last tick's lateness is the whole
    # cumulative drift; a "sleep(base) after each tick" loop would instead drift by the sum.
    return jitter_ms, jitter_ms[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=2000, help="ticks for the overhead measurement")
    parser.add_argument("--json", metavar="OUT", help="write the figures as JSON")
    args = parser.parse_args()

    overhead = anyio.run(measure_overhead, args.ticks)
    exporter = DroppingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=200_000))  # ticks back to back
    traced = anyio.run(measure_overhead, args.ticks, provider)
    provider.shutdown()
    jitter, drift = anyio.run(measure_jitter, 1000, 0.01)
    figures = {
        "overhead_p50_us": round(percentile(overhead, 50), 1),
        "overhead_p99_us": round(percentile(overhead, 99), 1),
        "overhead_traced_p50_us": round(percentile(traced, 50), 1),
        "overhead_traced_p99_us": round(percentile(traced, 99), 1),
        "tracing_cost_p50_us": round(percentile(traced, 50) - percentile(overhead, 50), 1),
        "spans_exported": exporter.spans,
        "jitter_p50_ms": round(percentile(jitter, 50), 3),
        "jitter_p99_ms": round(percentile(jitter, 99), 3),
        "drift_ms": round(drift, 3),
    }
    print(f"{'measure':<44} {'value':>10}")
    print(f"{'tick overhead, 40 no-op plugins, p50 (us)':<44} {figures['overhead_p50_us']:>10}")
    print(f"{'tick overhead, 40 no-op plugins, p99 (us)':<44} {figures['overhead_p99_us']:>10}")
    print(f"{'  with tracing on, p50 (us)':<44} {figures['overhead_traced_p50_us']:>10}")
    print(f"{'  with tracing on, p99 (us)':<44} {figures['overhead_traced_p99_us']:>10}")
    print(f"{'  spans exported':<44} {figures['spans_exported']:>10}")
    print(f"{'tick start jitter @10 ms base, p50 (ms)':<44} {figures['jitter_p50_ms']:>10}")
    print(f"{'tick start jitter @10 ms base, p99 (ms)':<44} {figures['jitter_p99_ms']:>10}")
    print(f"{'cumulative drift over 1,000 ticks (ms)':<44} {figures['drift_ms']:>10}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
