"""Fuzzing: whatever arrives, the planner answers with its own error, naming what was wrong.

Config documents become a config or a ConfigError; plugin declarations and answers off the wire
become a result or a declaration / protocol / plugin error (what the registry refuses with and the
tick records); trace files become a trace or a TraceError naming the line. `FUZZ_EXAMPLES` sets the
examples per target (200 here; the closing figures ran 10,000).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.config import PlannerConfig, load_config
from planner.errors import ConfigError
from planner.pipeline.validate import validate_result
from planner_plugins.traces import TraceError, load_trace
from planner_sdk import PluginDeclarationError, PluginError, PluginSpec, Role, Stage
from planner_sdk import _wire as wire
from planner_sdk._proto.planner.v1 import types_pb2 as pb

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCRATCH = Path(tempfile.mkdtemp(prefix="planner-fuzz-"))

# Real field names (so documents reach deep into the sections) mixed with made-up ones.
KEYS = [
    *sorted(PlannerConfig.model_fields),
    *("tick_max_duration_seconds", "endpoints", "static_plugins", "token_file", "speed", "x"),
]
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)


documents = st.recursive(scalars, containers, max_leaves=20)


def config_from_text(text: str) -> None:
    path = SCRATCH / "planner.yaml"
    path.write_text(text, encoding="utf-8")
    error: ConfigError | None = None
    try:
        load_config(path)
    except ConfigError as exc:
        error = exc
    assert error is None or error.problems, "a ConfigError names what is wrong"


@FUZZ
@given(documents)
def test_any_config_document_is_a_config_or_a_config_error(document: Any) -> None:
    config_from_text(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(st.text(max_size=200))
def test_any_config_text_is_a_config_or_a_config_error(text: str) -> None:
    config_from_text(text)


@FUZZ
@given(st.binary(max_size=200))
def test_any_declaration_off_the_wire_is_a_spec_or_a_declaration_error(data: bytes) -> None:
    try:
        message = pb.PluginDeclaration.FromString(data)
    except DecodeError:
        return  # gRPC answers a message that does not parse with a status of its own
    try:
        spec = wire.declaration_from_proto(message)
    except PluginDeclarationError as exc:
        refusal = str(exc)
    else:
        assert spec.execution_interval_seconds > 0
        return
    assert refusal.startswith("invalid_declaration: ")  # the reason the registry refuses with


ANSWERS = {
    Stage.OBSERVE: (pb.Observations, wire.observations_from_proto),
    Stage.PREDICT: (pb.PredictResult, wire.predict_result_from_proto),
    Stage.PROPOSE: (pb.ProposeResult, wire.propose_result_from_proto),
    Stage.APPLY: (pb.ApplyAck, wire.ack_from_proto),
}


@FUZZ
@given(st.sampled_from(sorted(ANSWERS, key=lambda s: s.value)), st.binary(max_size=300))
def test_any_plugin_answer_off_the_wire_is_a_result_or_a_plugin_error(stage: Stage, data: bytes) -> None:
    message_type, read = ANSWERS[stage]
    spec = PluginSpec(id="fuzzed", stage=stage, execution_interval_seconds=1.0)
    try:
        message = message_type.FromString(data)
        result = validate_result(spec, read(message), (Role.PREFILL, Role.DECODE), 1000)
    except (DecodeError, ValueError, PluginError):
        return  # the transport's protocol error, or validation's: the plugin loses its say for the tick
    for target in getattr(result, "targets", ()):
        assert 0 <= target.replicas <= 1000
    predictions = getattr(result, "predictions", None)
    for name in [f.name for f in dataclasses.fields(predictions)] if predictions is not None else []:
        value = getattr(predictions, name)
        assert not isinstance(value, float) or math.isfinite(value), (name, value)


def trace_from(data: bytes, suffix: str) -> None:
    path = SCRATCH / f"trace{suffix}"
    path.write_bytes(data)
    try:
        trace = load_trace(path)
    except TraceError as exc:
        problem = str(exc)
    else:
        assert all(r.arrival >= 0 and r.isl >= 0 and r.osl >= 0 for r in trace.requests)
        return
    assert path.name in problem  # names the file, and the line where there is one


mooncake_lines = st.lists(
    st.fixed_dictionaries(
        {"timestamp": st.integers(-5, 10**6) | st.floats() | st.text(max_size=3),
         "input_length": st.integers(-5, 10**5) | st.none(), "output_length": st.integers(-5, 10**4)}
    ).map(lambda row: yaml.safe_dump(row, default_flow_style=True, width=10**6).strip()),
    max_size=6,
)  # fmt: skip


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".csv"]))
def test_any_bytes_as_a_trace_are_a_trace_or_a_trace_error(data: bytes, suffix: str) -> None:
    trace_from(data, suffix)


@FUZZ
@given(mooncake_lines, st.integers(0, 40))
def test_truncated_or_odd_mooncake_lines_are_a_trace_or_a_trace_error(lines: list[str], cut: int) -> None:
    text = "\n".join(lines)
    trace_from(text[: len(text) - cut].encode(), ".jsonl")


@FUZZ
@given(mooncake_lines, st.integers(1, 60))
def test_a_gzipped_trace_cut_short_is_a_trace_or_a_trace_error(lines: list[str], cut: int) -> None:
    packed = gzip.compress("\n".join(lines).encode())
    trace_from(packed[: max(0, len(packed) - cut)], ".jsonl.gz")
