"""Trace readers: Mooncake JSONL and Azure CSV, bad input with line numbers, synthetic, rate scaling."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from planner_plugins.traces import (
    TraceError,
    iter_windows,
    load_trace,
    read_azure_csv,
    read_mooncake,
    scale_rate,
    synthetic_trace,
)

DATA = Path(__file__).parent / "data"
MOONCAKE = DATA / "mooncake_conversation_head300.jsonl"
AZURE = DATA / "azure_code_head300.csv"


def test_mooncake_jsonl_is_read_relative_to_the_first_request() -> None:
    trace = read_mooncake(MOONCAKE)
    first = json.loads(MOONCAKE.read_text().splitlines()[0])
    assert len(trace.requests) == 300
    assert trace.requests[0].arrival == 0.0
    assert (trace.requests[0].isl, trace.requests[0].osl) == (first["input_length"], first["output_length"])
    last = json.loads(MOONCAKE.read_text().splitlines()[-1])
    assert trace.duration == pytest.approx((last["timestamp"] - first["timestamp"]) / 1000.0)


def test_gzipped_jsonl_reads_the_same(tmp_path: Path) -> None:
    packed = tmp_path / "t.jsonl.gz"
    packed.write_bytes(gzip.compress(MOONCAKE.read_bytes()))
    assert load_trace(packed).requests == read_mooncake(MOONCAKE).requests


def test_azure_csv_is_read_with_its_seven_digit_timestamps() -> None:
    trace = read_azure_csv(AZURE)
    assert len(trace.requests) == 300
    assert trace.requests[0].arrival == 0.0
    assert (trace.requests[0].isl, trace.requests[0].osl) == (4808, 10)
    assert trace.requests[1].arrival == pytest.approx(0.052, abs=1e-6)


def test_a_bad_jsonl_line_is_named_by_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = '{"timestamp": 0, "input_length": 5, "output_length": 2}\n'
    path.write_text(good + '{"timestamp": 1, "input_length": -3, "output_length": 2}\n')
    with pytest.raises(TraceError, match=r"bad.jsonl:2: input_length=-3 must be a non-negative number"):
        read_mooncake(path)
    path.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2}\nnot json\n')
    with pytest.raises(TraceError, match=r"bad.jsonl:2: not valid JSON"):
        read_mooncake(path)
    path.write_text('{"timestamp": 0, "input_length": 5}\n')
    with pytest.raises(TraceError, match=r"bad.jsonl:1: missing key 'output_length'"):
        read_mooncake(path)


def test_lenient_reading_skips_bad_lines_and_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2}\noops\n{"timestamp": 9}\n')
    trace = read_mooncake(path, lenient=True)
    assert len(trace.requests) == 1
    assert trace.skipped_lines == 2


def test_unknown_csv_columns_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("time,prompt,completion\n1,2,3\n")
    with pytest.raises(TraceError, match=r"missing column\(s\) \['TIMESTAMP', 'ContextTokens', 'GeneratedTokens'\]"):
        read_azure_csv(path)


def test_a_bad_csv_row_is_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.98,10,2\nyesterday,10,2\n")
    with pytest.raises(TraceError, match=r"bad.csv:3"):
        read_azure_csv(path)


def test_an_empty_trace_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(TraceError, match="holds no requests"):
        load_trace(path)


def test_an_unknown_format_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_text("x")
    with pytest.raises(TraceError, match="unknown trace format"):
        load_trace(tmp_path / "t.parquet")
    with pytest.raises(TraceError, match="no such file"):
        load_trace(tmp_path / "missing.jsonl")


def test_a_directory_merges_its_traces(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(MOONCAKE.read_text())
    assert len(load_trace(tmp_path).requests) == 600


def test_integer_rate_scale_makes_exact_copies_within_half_a_second() -> None:
    trace = read_mooncake(MOONCAKE)
    scaled = scale_rate(trace, 3, seed=7)
    assert len(scaled.requests) == 900
    originals = sorted(r.arrival for r in trace.requests)
    for request in scaled.requests:
        nearest = min(originals, key=lambda a: abs(a - request.arrival))
        assert abs(nearest - request.arrival) <= 0.5 + 1e-9


def test_fractional_rate_scale_averages_the_factor_and_is_seeded() -> None:
    trace = read_mooncake(MOONCAKE)
    scaled = scale_rate(trace, 2.5, seed=1)
    assert 650 <= len(scaled.requests) <= 850
    assert scale_rate(trace, 2.5, seed=1).requests == scaled.requests
    assert scale_rate(trace, 2.5, seed=2).requests != scaled.requests


@pytest.mark.parametrize("pattern", ["constant", "step", "sine", "bursts"])
def test_synthetic_traces_are_seeded_and_near_their_rate(pattern: str) -> None:
    trace = synthetic_trace(pattern, 600, 5.0, amplitude=2.0, period_s=120, seed=3)
    assert trace.requests == synthetic_trace(pattern, 600, 5.0, amplitude=2.0, period_s=120, seed=3).requests
    assert 0.7 * 3000 <= len(trace.requests) <= 1.5 * 3000


def test_windows_cover_the_trace_including_empty_ones() -> None:
    trace = synthetic_trace("constant", 300, 1.0, seed=0)
    windows = list(iter_windows(trace, 60))
    assert sum(len(w) for _, w in windows) == len(trace.requests)
    assert [i for i, _ in windows] == list(range(len(windows)))


def test_a_line_that_is_not_utf8_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b'{"timestamp": 0, "input_length": 1, "output_length": 1}\n\x80\x81\n')
    with pytest.raises(TraceError, match=r"trace\.jsonl:2: not UTF-8 text"):
        load_trace(path)


def test_a_csv_line_that_is_not_utf8_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,10,5\n\xff,1,1\n")
    with pytest.raises(TraceError, match=r"trace\.csv:3: not UTF-8 text"):
        load_trace(path)


def test_a_gzipped_trace_cut_short_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl.gz"
    packed = gzip.compress(b'{"timestamp": 0, "input_length": 1, "output_length": 1}\n' * 100)
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(TraceError, match="cannot be read"):
        load_trace(path)
