"""Replay output: the text table, the JSON document, and a self-contained HTML report."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

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
            f"oracle: {oracle.gpu_hours:.2f} GPU-h over {len(oracle.windows)} windows of {oracle.window_s:g} s "
            f"{budget}; {oracle.infeasible} window(s) infeasible (no fleet meets the SLA for 99 % of their requests)"
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
        "results": [r.as_json() for r in results],
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _polyline(points: list[tuple[float, float]], x_max: float, y_max: float, color: str, step: bool = True) -> str:
    width, height = 760.0, 160.0
    coords: list[str] = []
    for i, (x, y) in enumerate(points):
        px, py = 40 + x / x_max * width, 10 + height - y / y_max * height
        if step and i:
            coords.append(f"{px:.1f},{10 + height - points[i - 1][1] / y_max * height:.1f}")
        coords.append(f"{px:.1f},{py:.1f}")
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(coords)}"/>'


def write_html(path: str | Path, trace: str, results: Sequence[ReplayResult], oracle: OracleResult | None) -> None:
    """One table and, per config, its prefill/decode replicas over time against the oracle's."""
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in results)
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in _COLUMNS)
    charts = []
    for r in results:
        points = r.timeline or []
        if not points:
            continue
        x_max = max(p.t for p in points) or 1.0
        oracle_p: list[tuple[float, float]] = []
        oracle_d: list[tuple[float, float]] = []
        if oracle is not None:
            for w in oracle.windows:
                oracle_p.append((w.index * oracle.window_s, w.prefill))
                oracle_d.append((w.index * oracle.window_s, w.decode))
        y_max = (
            max([p.prefill for p in points] + [p.decode for p in points] + [v for _, v in oracle_p + oracle_d] + [1])
            * 1.1
        )
        lines = [
            _polyline([(p.t, p.prefill) for p in points], x_max, y_max, "#1f77b4"),
            _polyline([(p.t, p.decode) for p in points], x_max, y_max, "#ff7f0e"),
        ]
        if oracle_p:
            lines.append(
                _polyline(oracle_p, x_max, y_max, "#1f77b4").replace(
                    'stroke-width="1.5"', 'stroke-width="1" stroke-dasharray="4 3"'
                )
            )
            lines.append(
                _polyline(oracle_d, x_max, y_max, "#ff7f0e").replace(
                    'stroke-width="1.5"', 'stroke-width="1" stroke-dasharray="4 3"'
                )
            )
        charts.append(
            f"<h3>{html.escape(r.name)}</h3><svg width='820' height='190' style='background:#fafafa'>"
            f"{''.join(lines)}<text x='40' y='185' font-size='11'>0 s</text>"
            f"<text x='760' y='185' font-size='11'>{x_max:.0f} s</text>"
            f"<text x='2' y='20' font-size='11'>{y_max / 1.1:.0f}</text></svg>"
        )
    legend = "<p>Solid: expected replicas (blue prefill, orange decode). Dashed: the oracle's per-window sizing.</p>"
    page = (
        f"<!doctype html><meta charset='utf-8'><title>planner replay: {html.escape(trace)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style>"
        f"<h1>Replay of {html.escape(trace)}</h1><table><tr>{head}</tr>{rows}</table>{legend}{''.join(charts)}"
    )
    Path(path).write_text(page, encoding="utf-8")
