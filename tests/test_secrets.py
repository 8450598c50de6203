"""Secrets stay secret: the registry's bearer token never shows in the logs, the tick records (as
the decision record writes them), `/metrics`, the traces or the live dashboard while plugins
register with it and without it, and
`validate-config` never prints the Prometheus bearer token."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest
from remote_harness import TOKEN, running_planner

from planner.cli import main
from planner.observability.dashboard import dashboard_state
from planner.pipeline.record import to_jsonable

pytestmark = pytest.mark.e2e

BEARER = "prometheus-bearer-9f8e7d"


@pytest.mark.anyio
async def test_no_secret_reaches_a_log_the_record_or_metrics(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    async with running_planner(tmp_path, tracer_provider=provider) as h:
        h.start_plugin("floor", "with_token")
        await h.wait_for(lambda: any(c.status == "ok" for c in h.calls_of("with_token")), what="a call")
        h.start_plugin("floor", "wrong_token", token="not-" + TOKEN)
        await h.wait_for(lambda: "wrong_token" in caplog.text, what="the refusal logged")
        exposed = generate_latest(h.planner.metrics.registry).decode()
        exposed += json.dumps(dashboard_state(h.planner, 0.0))
    traced = "".join(f"{s.name}{dict(s.attributes or {})}{s.status.description}" for s in spans.get_finished_spans())
    assert "plugin with_token" in traced  # the spans were there to look through
    seen = caplog.text + exposed + traced + "".join(json.dumps(to_jsonable(r)) for r in h.records)
    assert TOKEN not in seen
    assert "with_token" in caplog.text  # the logs were there to look through


def test_validate_config_hides_the_bearer_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "planner.yaml"
    path.write_text(f"metric_pulling_prometheus_endpoint: http://127.0.0.1:1\nprometheus:\n  bearer_token: {BEARER}\n")
    assert main(["validate-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert BEARER not in out + err
