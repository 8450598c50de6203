"""OpenTelemetry spans for ticks, stages and plugin calls, and the W3C trace context on the wire."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config_sections import TracingConfig
from ..errors import ConfigError

if TYPE_CHECKING:  # the SDK's modules load only for a planner that traces (start-up time)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

__all__ = ["TickTracer", "tracer_provider", "inject_trace_context", "describe_call", "mark_error"]

log = logging.getLogger("planner.tracing")


class TickTracer:
    """Spans under one tracer provider; with none, `span` yields None and costs a generator."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("planner") if provider is not None else None

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @contextmanager
    def span(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[Span | None]:
        if self._tracer is None:
            yield None
            return
        # Cancellation is how a tick's deadline cuts a call: describe_call says so (outcome timeout);
        # the CancelledError itself is no exception event.
        with self._tracer.start_as_current_span(name, attributes=attributes, record_exception=False) as span:
            yield span


def mark_error(span: Span, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))


def describe_call(span: Span, trace: Any) -> None:
    """A plugin call's outcome on its span (`trace`: the call's CallTrace)."""
    span.set_attribute("plugin.outcome", trace.status)
    if trace.latency_ms is not None:
        span.set_attribute("plugin.latency_ms", trace.latency_ms)
    if trace.error_kind is not None:
        span.set_attribute("plugin.error_kind", trace.error_kind)
        mark_error(span, trace.error or trace.error_kind)


def inject_trace_context(metadata: MutableMapping[str, str]) -> None:
    """Put the current span's W3C `traceparent` (and `tracestate`) into gRPC metadata; nothing when
    no span is recording."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(metadata)


def _checked_otlp_endpoint() -> str | None:
    """The endpoint the OTLP exporter will use, if the environment names one; ConfigError if it is
    not a URL with a host (the exporter would fail on every batch, far from the cause)."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        parts = urlsplit(value if "://" in value else f"http://{value}")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ConfigError([f"{name}={value!r}: the port is not a number"]) from None
        if not parts.hostname:
            raise ConfigError([f"{name}={value!r} is not an endpoint URL (e.g. http://collector:4317)"])
        return value
    return None


def _exporter(config: TracingConfig) -> SpanExporter:
    if config.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(service_name=config.service_name)
    endpoint = _checked_otlp_endpoint()
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(["tracing.exporter: 'otlp' needs the OTLP exporter: pip install 'planner[otlp]'"]) from None
    # The exporter logs every retry of every batch; ReportingExporter says it once instead.
    logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter").setLevel(logging.CRITICAL)
    from .otlp_export import ReportingExporter

    return ReportingExporter(OTLPSpanExporter(timeout=5), endpoint or "localhost:4317 (the default)")


def tracer_provider(config: TracingConfig) -> TracerProvider | None:
    """The provider `config` asks for (spans batched off the event loop), or None for `none`. An
    exporter that cannot be made (a malformed endpoint, the extra not installed) is said in one
    line and the planner runs untraced: observability never stops it deciding."""
    if config.exporter == "none":
        return None
    try:
        exporter = _exporter(config)
    except ConfigError as exc:
        log.warning("tracing off: %s", "; ".join(exc.problems))
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: config.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=5000))
    return provider
