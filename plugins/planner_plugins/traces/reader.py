"""Request traces: Mooncake JSONL, Azure LLM inference CSV, synthetic patterns, rate scaling, windows."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from planner_sdk import PlannerError

__all__ = [
    "TraceError",
    "TraceRequest",
    "Trace",
    "load_trace",
    "read_mooncake",
    "read_azure_csv",
    "synthetic_trace",
    "poisson_trace",
    "scale_rate",
    "iter_windows",
]


class TraceError(PlannerError):
    """A trace cannot be read; the message names the file and, where it applies, the line."""


@dataclass(frozen=True, slots=True)
class TraceRequest:
    arrival: float  # seconds from the trace's first request
    isl: int
    osl: int


@dataclass(frozen=True)
class Trace:
    name: str
    requests: list[TraceRequest]
    skipped_lines: int = 0

    @property
    def duration(self) -> float:
        return self.requests[-1].arrival if self.requests else 0.0


def _open_bytes(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _text_lines(raw: IO[bytes], path: Path, lenient: bool) -> Iterator[str]:
    """The file's lines as text, decoded one at a time so a bad byte is reported at its line."""
    for number, data in enumerate(raw, start=1):
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not lenient:
                raise TraceError(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
            yield data.decode("utf-8", errors="replace")  # the line's own check then skips it


def _unreadable(path: Path, exc: BaseException) -> TraceError:
    """A file that cannot be opened or decompressed (EOFError: a .gz cut short)."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return TraceError(f"{path}: cannot be read ({why})")


def _non_negative(value: object, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TraceError(f"{where}: {what}={value!r} must be a non-negative number")
    return float(value)


def _finish(name: str, rows: list[tuple[float, int, int]], skipped: int) -> Trace:
    if not rows:
        raise TraceError(
            f"{name}: the trace holds no requests" + (f" ({skipped} bad lines skipped)" if skipped else "")
        )
    rows.sort(key=lambda r: r[0])
    origin = rows[0][0]
    return Trace(name, [TraceRequest(t - origin, isl, osl) for t, isl, osl in rows], skipped)


def read_mooncake(path: str | Path, *, lenient: bool = False) -> Trace:
    """Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`; other keys ignored."""
    path = Path(path)
    rows: list[tuple[float, int, int]] = []
    skipped = 0
    try:
        with _open_bytes(path) as raw:
            for number, line in enumerate(_text_lines(raw, path, lenient), start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise TraceError(f"{where}: expected a JSON object")
                    for key in ("timestamp", "input_length", "output_length"):
                        if key not in record:
                            raise TraceError(f"{where}: missing key {key!r}")
                    stamp_ms = _non_negative(record["timestamp"], "timestamp", where)
                    isl = int(_non_negative(record["input_length"], "input_length", where))
                    osl = int(_non_negative(record["output_length"], "output_length", where))
                    rows.append((stamp_ms / 1000.0, isl, osl))
                except (json.JSONDecodeError, TraceError) as exc:
                    if not lenient:
                        message = exc if isinstance(exc, TraceError) else f"{where}: not valid JSON ({exc.msg})"
                        raise TraceError(str(message)) from None
                    skipped += 1
    except (OSError, EOFError) as exc:
        raise _unreadable(path, exc) from None
    return _finish(path.name, rows, skipped)


AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def read_azure_csv(path: str | Path, *, lenient: bool = False) -> Trace:
    """Azure LLM inference trace CSV: `TIMESTAMP` (datetime), `ContextTokens`, `GeneratedTokens`."""
    path = Path(path)
    rows: list[tuple[float, int, int]] = []
    skipped = 0
    reader: csv.DictReader[str] | None = None
    try:
        with _open_bytes(path) as raw:
            reader = csv.DictReader(_text_lines(raw, path, lenient))
            header = reader.fieldnames or []
            missing = [c for c in AZURE_COLUMNS if c not in header]
            if missing:
                raise TraceError(f"{path}: missing column(s) {missing}; found {header}, expected {list(AZURE_COLUMNS)}")
            for number, record in enumerate(reader, start=2):
                where = f"{path}:{number}"
                try:
                    stamp = dt.datetime.fromisoformat(record["TIMESTAMP"].strip())
                    isl, osl = int(record["ContextTokens"]), int(record["GeneratedTokens"])
                    if isl < 0 or osl < 0:
                        raise ValueError(f"negative token count ({isl}, {osl})")
                except (ValueError, AttributeError, TypeError) as exc:
                    if not lenient:
                        raise TraceError(f"{where}: {exc}") from None
                    skipped += 1
                    continue
                rows.append((stamp.timestamp(), isl, osl))
    except csv.Error as exc:  # while reading a line: the one after the last read
        line = (reader.line_num if reader is not None else 0) + 1
        raise TraceError(f"{path}:{line}: not CSV ({exc})") from None
    except (OSError, EOFError) as exc:
        raise _unreadable(path, exc) from None
    return _finish(path.name, rows, skipped)


def _trace_files(spec: str | Path) -> list[Path]:
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz", ".csv", ".csv.gz")))
    elif any(ch in str(spec) for ch in "*?["):
        files = sorted(Path().glob(str(spec))) if not path.is_absolute() else sorted(Path("/").glob(str(spec)[1:]))
    else:
        files = [path]
    if not files:
        raise TraceError(f"{spec}: no trace files found")
    return files


def load_trace(spec: str | Path, *, lenient: bool = False) -> Trace:
    """A trace file (format by extension), or every trace in a directory or glob, merged."""
    traces = []
    for path in _trace_files(spec):
        if not path.exists():
            raise TraceError(f"{path}: no such file")
        name = path.name.removesuffix(".gz")
        if name.endswith(".jsonl"):
            traces.append(read_mooncake(path, lenient=lenient))
        elif name.endswith(".csv"):
            traces.append(read_azure_csv(path, lenient=lenient))
        else:
            raise TraceError(f"{path}: unknown trace format (expected .jsonl Mooncake or .csv Azure, optionally .gz)")
    if len(traces) == 1:
        return traces[0]
    merged = sorted((r for t in traces for r in t.requests), key=lambda r: r.arrival)
    return Trace(str(spec), merged)


def poisson_trace(
    name: str,
    rate_at: Callable[[float], float],
    peak_rate: float,
    duration_s: float,
    *,
    isl: float = 3000.0,
    osl: float = 150.0,
    length_cv: float = 0.5,
    seed: int = 0,
) -> Trace:
    """Poisson arrivals at the time-varying rate `rate_at(t)` (requests/s, never above `peak_rate`)
    for `duration_s`, by thinning; input and output lengths lognormal around their means with
    coefficient of variation `length_cv`."""
    for what, value in (("peak_rate", peak_rate), ("duration_s", duration_s), ("isl", isl), ("osl", osl)):
        if not (math.isfinite(value) and value > 0):
            raise TraceError(f"{name}: {what}={value!r} must be a finite number > 0")
    if not (math.isfinite(length_cv) and 0 <= length_cv <= 10):
        raise TraceError(f"{name}: length_cv={length_cv!r} must be between 0 and 10")
    rng = random.Random(seed)
    sigma = math.sqrt(math.log1p(length_cv**2))

    def length(mean: float) -> int:
        return max(1, round(rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma)))

    rows: list[tuple[float, int, int]] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak_rate)  # candidates at the peak rate, kept with probability rate/peak
        if t >= duration_s:
            break
        if rng.random() * peak_rate <= rate_at(t):
            rows.append((t, length(isl), length(osl)))
    if not rows:
        raise TraceError(f"{name}: no requests in {duration_s:g} s at a peak rate of {peak_rate:g}/s")
    return Trace(name, [TraceRequest(t, i, o) for t, i, o in rows])


def synthetic_trace(
    pattern: str,
    duration_s: float,
    rate: float,
    *,
    amplitude: float = 0.0,
    period_s: float = 600.0,
    isl: float = 3000.0,
    osl: float = 150.0,
    seed: int = 0,
) -> Trace:
    """Poisson arrivals whose rate is constant, a step, a sine wave, or periodic bursts.

    Lengths are lognormal around the given means (coefficient of variation 0.5).
    """
    if pattern not in ("constant", "step", "sine", "bursts"):
        raise TraceError(f"synthetic pattern {pattern!r}: expected constant, step, sine or bursts")

    def rate_at(t: float) -> float:
        phase = (t % period_s) / period_s
        if pattern == "sine":
            return max(0.0, rate + amplitude * math.sin(2 * math.pi * phase))
        if pattern == "step":
            return rate + (amplitude if t >= duration_s / 2 else 0.0)
        if pattern == "bursts":
            return rate + (amplitude if phase < 0.1 else 0.0)
        return rate

    return poisson_trace(
        f"synthetic-{pattern}", rate_at, rate + abs(amplitude), duration_s, isl=isl, osl=osl, seed=seed
    )


def scale_rate(trace: Trace, factor: float, *, seed: int = 0, jitter_s: float = 0.5) -> Trace:
    """X times the load on the same timeline: each request becomes floor(X) or ceil(X) copies
    (X on average), each copy's arrival jittered by up to +-jitter_s."""
    if not factor > 0:
        raise TraceError(f"rate scale {factor!r} must be > 0")
    if factor == 1:
        return trace
    rng = random.Random(seed)
    whole, fraction = math.floor(factor), factor - math.floor(factor)
    copies: list[TraceRequest] = []
    for request in trace.requests:
        n = whole + (1 if rng.random() < fraction else 0)
        for _ in range(n):
            arrival = max(0.0, request.arrival + rng.uniform(-jitter_s, jitter_s))
            copies.append(TraceRequest(arrival, request.isl, request.osl))
    copies.sort(key=lambda r: r.arrival)
    return Trace(f"{trace.name} x{factor:g}", copies)


def iter_windows(trace: Trace, window_s: float) -> Iterator[tuple[int, list[TraceRequest]]]:
    """The trace cut into consecutive windows (index, requests); empty windows included."""
    if not trace.requests:
        return
    count = int(trace.duration // window_s) + 1
    buckets: list[list[TraceRequest]] = [[] for _ in range(count)]
    for request in trace.requests:
        buckets[int(request.arrival // window_s)].append(request)
    yield from enumerate(buckets)
