"""OpenTelemetry traces: a span per tick, a child per stage and per plugin call, continued by remote plugins."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from remote_harness import running_planner

from helpers import Hang, Observe, Propose, memory, planner, set_targets
from planner import Planner, PlannerConfig, VirtualClock
from planner.config_sections import TracingConfig
from planner.observability.tracing import tracer_provider
from planner_sdk import Observations


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def run_ticks(provider: TracerProvider, *plugins: object, ticks: int = 1) -> None:
    clock = VirtualClock()

    async def main() -> None:
        p = planner(clock, *plugins, connector=memory(clock), tracer_provider=provider,
                    scheduling={"scale_interval_seconds": 10.0})  # fmt: skip
        async with p, clock.autojump():
            await p.run(max_ticks=ticks)

    anyio.run(main)


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def test_a_tick_is_a_span_with_a_child_per_stage_and_a_grandchild_per_plugin_call() -> None:
    provider, exporter = traced()
    run_ticks(
        provider, Observe("watch", Observations(), interval=10.0), Propose("fixed", set_targets(3, 2), interval=10.0)
    )
    spans = by_name(exporter.get_finished_spans())
    tick = spans["planner.tick"]
    assert tick.parent is None
    assert tick.attributes is not None
    assert tick.attributes["planner.outcome"] == "applied"
    assert tick.attributes["planner.decision_id"] == 1
    for stage, plugin in (("observe", "watch"), ("propose", "fixed")):
        assert parent_of(spans[f"stage {stage}"]) == tick.context.span_id
        call = spans[f"plugin {plugin}"]
        assert parent_of(call) == spans[f"stage {stage}"].context.span_id
        assert call.attributes is not None
        assert call.attributes["plugin.id"] == plugin
        assert call.attributes["plugin.stage"] == stage
        assert call.attributes["plugin.outcome"] == "ok"
        assert call.attributes["plugin.timeout_seconds"] > 0
    assert parent_of(spans["stage apply"]) == tick.context.span_id
    assert {span.context.trace_id for span in spans.values()} == {tick.context.trace_id}


def test_a_timed_out_call_is_an_error_span_naming_the_kind() -> None:
    provider, exporter = traced()
    run_ticks(provider, Hang("stuck", interval=10.0, timeout_seconds=0.5),
              Propose("fixed", set_targets(2, 2), interval=10.0))  # fmt: skip
    call = by_name(exporter.get_finished_spans())["plugin stuck"]
    assert call.attributes is not None
    assert call.attributes["plugin.outcome"] == "timeout"
    assert call.attributes["plugin.error_kind"] == "timeout"
    assert call.status.status_code.name == "ERROR"


def test_each_tick_is_its_own_trace() -> None:
    provider, exporter = traced()
    run_ticks(provider, Propose("fixed", set_targets(2, 2), interval=10.0), ticks=3)
    ticks = [s for s in exporter.get_finished_spans() if s.name == "planner.tick"]
    assert len({s.context.trace_id for s in ticks}) == 3


def test_tracing_is_off_by_default_and_makes_no_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    config = PlannerConfig()
    assert config.tracing.exporter == "none"
    assert tracer_provider(config.tracing) is None
    assert not Planner(config, discover=False).tracer.enabled


def test_the_standard_variable_chooses_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "planner-eu")
    config = PlannerConfig()
    assert (config.tracing.exporter, config.tracing.service_name) == ("console", "planner-eu")
    provider = tracer_provider(config.tracing)
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "planner-eu"
    provider.shutdown()


def test_a_malformed_otlp_endpoint_is_one_line_and_the_planner_runs_untraced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:port")
    with caplog.at_level(logging.WARNING, logger="planner.tracing"):
        provider = tracer_provider(TracingConfig(exporter="otlp"))
    assert provider is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "OTEL_EXPORTER_OTLP_ENDPOINT='http://collector:port'" in lines[0]


def test_an_unreachable_collector_is_one_line_while_ticks_go_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from prometheus_harness import free_port

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nobody listens
    provider = tracer_provider(TracingConfig(exporter="otlp"))
    assert provider is not None
    records: list[object] = []
    clock = VirtualClock()

    async def main() -> None:
        p = planner(clock, Propose("fixed", set_targets(2, 2), interval=10.0), connector=memory(clock),
                    records=records, tracer_provider=provider, scheduling={"scale_interval_seconds": 10.0})  # type: ignore[arg-type]  # fmt: skip
        async with p, clock.autojump():
            await p.run(max_ticks=5)

    with caplog.at_level(logging.WARNING, logger="planner.tracing"):
        anyio.run(main)
        provider.force_flush(timeout_millis=15_000)
        provider.shutdown()
    assert len(records) == 5
    failures = [r.getMessage() for r in caplog.records if "OTLP export" in r.getMessage()]
    assert len(failures) == 1, failures
    assert "spans are dropped until it answers" in failures[0]


def test_a_remote_plugins_own_span_lands_inside_the_planners_call_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real processes: the planner's plugin-call span travels as `traceparent` in the gRPC metadata;
    the SDK's serve() opens a server span under it, and the plugin's own span nests under that."""
    spans_file = tmp_path / "plugin-spans.jsonl"
    provider, exporter = traced()

    monkeypatch.setenv("PLANNER_TEST_SPANS", str(spans_file))  # the plugin process writes its spans here

    async def main() -> None:
        async with running_planner(tmp_path, tracer_provider=provider) as h:
            h.start_plugin("traced", "traced_floor")
            await h.wait_for(lambda: any(c.status == "ok" for c in h.calls_of("traced_floor")), within=20.0,
                             what="a successful call of the traced plugin")  # fmt: skip
            await h.wait_for(lambda: spans_file.exists() and "traced plugin work" in spans_file.read_text(),
                             within=10.0, what="the plugin's span on disk")  # fmt: skip

    anyio.run(main)
    theirs = {s["name"]: s for s in map(json.loads, spans_file.read_text().splitlines())}
    server, work = theirs["traced_floor propose"], theirs["traced plugin work"]
    assert work["parent_id"] == server["span_id"]
    ours = {f"{s.context.span_id:016x}": s for s in exporter.get_finished_spans() if s.name == "plugin traced_floor"}
    assert server["parent_id"] in ours, "the plugin's server span is not under one of the planner's call spans"
    call = ours[server["parent_id"]]
    assert server["trace_id"] == f"{call.context.trace_id:032x}"


def test_otlp_spans_reach_a_collector_named_by_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real gRPC OTLP endpoint (the collector's TraceService, in this process) receives the ticks."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[object] = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
        def Export(self, request: object, context: object) -> object:
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        provider = tracer_provider(TracingConfig(exporter="otlp", service_name="planner-test"))
        assert provider is not None
        run_ticks(provider, Propose("fixed", set_targets(2, 2), interval=10.0), ticks=2)
        assert provider.force_flush(timeout_millis=10_000)
        provider.shutdown()
    finally:
        server.stop(None)
    names, services = [], set()
    for request in received:
        for resource_spans in request.resource_spans:  # type: ignore[attr-defined]
            services |= {a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"}
            names += [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    assert services == {"planner-test"}
    assert names.count("planner.tick") == 2
    assert "plugin fixed" in names
