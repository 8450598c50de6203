"""Self-contained HTML reports (Plotly bundled: they open offline) for a replay or a running daemon."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .charts import FIGURE_IDS, OracleLine, Run, figures

__all__ = ["plotly_js", "render_report", "write_report", "decisions_table", "PAGE_STYLE"]

PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}th{background:#f3f3f3}"
    "td.text{text-align:left;max-width:70em}.chart{width:100%;max-width:1200px}h2{margin-top:1.2em}"
)
MAX_TABLE_DECISIONS = 500


@cache
def plotly_js() -> str:
    """plotly.js as the `plotly` package ships it (read, not imported: nothing else of it is needed)."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def _json(value: Any) -> str:
    # `</` would end the script element early; NaN is not JSON (Plotly takes null as a gap).
    return json.dumps(value, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def decisions_table(runs: Sequence[Run], limit: int = MAX_TABLE_DECISIONS) -> str:
    """The last `limit` decisions (and failed ticks) of every run with their reasons, as an HTML table."""
    rows = []
    for run in runs:
        shown = [s for s in run.snapshots if s.decision_id is not None or s.outcome in (
            "skipped_timeout", "skipped_error", "skipped_rejected", "apply_failed")]  # fmt: skip
        for s in shown[-limit:]:
            targets = ", ".join(f"{role} {s.expected.get(role)}&rarr;{n}" for role, n in s.recommended.items())
            rows.append(
                f"<tr><td class='text'>{html.escape(run.name)}</td><td>{s.t:.0f}</td><td>{s.tick_id}</td>"
                f"<td>{'' if s.decision_id is None else s.decision_id}</td><td class='text'>{html.escape(s.outcome)}"
                f"</td><td class='text'>{targets}</td><td class='text'>{html.escape(s.reason)}</td></tr>"
            )
    head = (
        "<tr><th>run</th><th>t (s)</th><th>tick</th><th>decision</th><th>outcome</th><th>targets</th><th>why</th></tr>"
    )
    return f"<table id='decision-table'>{head}{''.join(rows)}</table>"


def render_report(
    title: str,
    runs: Sequence[Run],
    *,
    ttft_ms: float | None,
    itl_ms: float | None,
    oracle: Sequence[OracleLine] = (),
    summary_html: str = "",
    wall_clock: bool = False,
) -> str:
    """One page: `summary_html` (a table), the charts for all runs, and the decisions with their reasons."""
    charts = figures(runs, ttft_ms=ttft_ms, itl_ms=itl_ms, oracle=oracle, wall_clock=wall_clock)
    divs = "".join(f"<div id='chart-{name}' class='chart'></div>" for name in FIGURE_IDS)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<link rel='icon' href='data:,'><style>{PAGE_STYLE}</style><script>{plotly_js()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>{summary_html}{divs}<h2>Decisions</h2>{decisions_table(runs)}"
        f"<script>const figures={_json(charts)};"
        "for(const [name,fig] of Object.entries(figures)){"
        "Plotly.newPlot('chart-'+name,fig.data,fig.layout,{responsive:true,displaylogo:false});}</script>"
        "</body></html>"
    )


def write_report(path: str | Path, page: str) -> Path:
    """Write atomically (a reader never sees half a report); OSError if the directory is unwritable."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    return target
