"""Replay output: the text table, the JSON document, and a self-contained HTML report."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

from ..observability.charts import OracleLine, Run
from ..observability.report import render_report, write_report
from .oracle import OracleResult
from .replay import ReplayResult

__all__ = ["format_table", "format_footer", "write_json", "write_html"]

_COLUMNS = (
    ("config", 28), ("requests", 9), ("GPU-h", 7), ("oracle", 7), ("xOracle", 7), ("SLA%", 6),
    ("TTFT%", 6), ("ITL%", 6), ("p50TTFT", 8), ("p99TTFT", 8), ("p99ITL", 7), ("scales", 6), ("cut", 4),
    ("wall s", 6),
)  # fmt: skip


def _cells(r: ReplayResult) -> list[str]:
    ratio = r.gpu_hours / r.oracle_gpu_hours if r.oracle_gpu_hours else math.nan
    return [
        r.name[:28], str(r.requests), f"{r.gpu_hours:.2f}",
        "-" if r.oracle_gpu_hours is None else f"{r.oracle_gpu_hours:.2f}",
        "-" if math.isnan(ratio) else f"{ratio:.2f}",
        f"{100 * r.sla_attainment:.2f}", f"{100 * r.ttft_attainment:.2f}", f"{100 * r.itl_attainment:.2f}",
        f"{r.p50_ttft_ms:.0f}", f"{r.p99_ttft_ms:.0f}", f"{r.p99_itl_ms:.1f}",
        str(r.scale_actions), str(r.cut_decisions), f"{r.wall_seconds:.1f}",
    ]  # fmt: skip


def format_table(trace: str, results: Sequence[ReplayResult]) -> str:
    header = " ".join(f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, width) in enumerate(_COLUMNS))
    lines = [f"trace: {trace}", header, "-" * len(header)]
    for result in results:
        cells = _cells(result)
        lines.append(
            " ".join(
                f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, (_, w)) in enumerate(zip(cells, _COLUMNS, strict=True))
            )
        )
    return "\n".join(lines)


def format_footer(results: Sequence[ReplayResult], oracle: OracleResult | None, start: str) -> str:
    """What the table's numbers rest on: the oracle's feasibility and budget, the start fleet, the cuts."""
    lines = [f"start fleet: {start}"]
    if oracle is not None:
        budget = "no GPU budget" if oracle.max_gpus is None else f"within max_gpu_budget={oracle.max_gpus}"
        lines.append(
            f"oracle: {oracle.gpu_hours:.2f} GPU-h ({oracle.startup_gpu_hours:.2f} of them starting engines) over "
            f"{len(oracle.windows)} windows of {oracle.window_s:g} s {budget}; {oracle.infeasible} window(s) "
            "infeasible (no fleet meets the SLA for 99 % of their requests)"
        )
    for r in results:
        if r.cuts:
            kinds = ", ".join(f"{reason} {n}" for reason, n in sorted(r.cuts.items()))
            lines.append(f"{r.name}: {r.cut_decisions} decision(s) cut ({kinds})")
    return "\n".join(lines)


def write_json(
    path: str | Path, trace: str, results: Sequence[ReplayResult], oracle: OracleResult | None, rate_scale: float
) -> None:
    document = {
        "trace": trace,
        "rate_scale": rate_scale,
        "oracle_window_seconds": None if oracle is None else oracle.window_s,
        "oracle_infeasible_windows": None if oracle is None else oracle.infeasible,
        "oracle_max_gpus": None if oracle is None else oracle.max_gpus,
        "oracle_gpu_hours": None if oracle is None else oracle.gpu_hours,
        "oracle_startup_gpu_hours": None if oracle is None else oracle.startup_gpu_hours,
        "results": [r.as_json() for r in results],
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_html(
    path: str | Path, trace: str, results: Sequence[ReplayResult], oracle: OracleResult | None,
    ttft_ms: float | None = None, itl_ms: float | None = None,
) -> None:  # fmt: skip
    """One page comparing the configs: the table, then replicas per role against the oracle's,
    latency observed and estimated against the targets, load observed and predicted, decisions."""
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in results)
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in _COLUMNS)
    lines: list[OracleLine] = []
    if oracle is not None:
        for role in ("prefill", "decode"):
            points = [(w.index * oracle.window_s, getattr(w, role)) for w in oracle.windows]
            if oracle.windows:  # hold the last window's fleet to its end
                points.append(((oracle.windows[-1].index + 1) * oracle.window_s, int(points[-1][1])))
            lines.append(OracleLine(role, points))
    runs = [Run(r.name, r.snapshots) for r in results]
    summary = f"<table id='results'><tr>{head}</tr>{rows}</table>"
    page = render_report(f"Replay of {trace}", runs, ttft_ms=ttft_ms, itl_ms=itl_ms, oracle=lines,
                         summary_html=summary)  # fmt: skip
    write_report(path, page)
