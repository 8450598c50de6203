"""An OTLP span exporter that reports failing exports in one line, not one per retry."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["ReportingExporter"]

log = logging.getLogger("planner.tracing")


class ReportingExporter(SpanExporter):
    """An exporter that logs one line when exports start failing and one when they work again."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self.inner, self.endpoint = inner, endpoint
        self._failing = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # an exporter bug must not kill the export thread
            log.debug("OTLP export raised", exc_info=exc)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.FAILURE and not self._failing:
            log.warning("tracing: OTLP export to %s failed; spans are dropped until it answers", self.endpoint)
        elif result is SpanExportResult.SUCCESS and self._failing:
            log.info("tracing: OTLP export to %s works again", self.endpoint)
        self._failing = result is SpanExportResult.FAILURE
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
