"""The live dashboard: the report's charts for the running daemon, its plugins and health, polled."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..config import PlannerConfig
from ..http_server import Route
from ..registry import RegisteredPlugin
from .charts import FIGURE_IDS, Run, figures
from .history import History
from .report import PAGE_STYLE, plotly_js

__all__ = ["DashboardSource", "dashboard_routes", "dashboard_state", "SHOWN_SNAPSHOTS"]

SHOWN_SNAPSHOTS = 2000
"""Ticks the dashboard draws (the most recent); the periodic reports keep the rest."""
POLL_MS = 2000


class DashboardSource(Protocol):
    """What the dashboard reads of a planner."""

    config: PlannerConfig
    history: History

    @property
    def registry(self) -> Iterable[RegisteredPlugin]: ...

    def not_ready(self) -> list[str]: ...


def _plugins(source: DashboardSource, wall_now: float) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.id,
            "stage": entry.spec.stage.value,
            "source": entry.source,
            "priority": entry.spec.priority,
            "interval_s": entry.spec.execution_interval_seconds,
            "timeout_s": entry.timeout_seconds,
            "circuit": entry.circuit(wall_now),
            "last_latency_ms": entry.last_latency_ms,
            "last_error": entry.last_error or "",
        }
        for entry in source.registry
    ]


def dashboard_state(source: DashboardSource, wall_now: float) -> dict[str, Any]:
    """Everything the page shows, as JSON: charts of the recent ticks, plugins, health."""
    snapshots = list(source.history)[-SHOWN_SNAPSHOTS:]
    config = source.config
    charts = figures([Run(config.environment, snapshots)], ttft_ms=config.ttft_ms, itl_ms=config.itl_ms,
                     wall_clock=True)  # fmt: skip
    last = snapshots[-1] if snapshots else None
    reasons = source.not_ready()
    return {
        "tick_id": last.tick_id if last else None,
        "last_outcome": last.outcome if last else None,
        "last_reason": last.reason if last else "",
        "ready": not reasons,
        "not_ready": reasons,
        "figures": charts,
        "plugins": _plugins(source, wall_now),
    }


_PAGE = """<!doctype html><html><head><meta charset='utf-8'><title>planner: live</title>
<style>{style} #health.ok{{color:#2a7d2a}} #health.bad{{color:#b22}}</style>
<link rel='icon' href='data:,'><script src='plotly.min.js'></script></head><body>
<h1>planner: live</h1>
<p>Tick <b id='tick'>-</b>, <span id='outcome'>-</span>. Health: <b id='health'>-</b></p>
<p id='reason' style='font-size:13px;color:#555'></p>
<h2>Plugins</h2><table id='plugins'></table>
{divs}
<script>
const ids = {ids};
function cell(v) {{ const td = document.createElement('td'); td.textContent = v ?? '-'; return td; }}
function plugins(rows) {{
  const table = document.getElementById('plugins'); table.replaceChildren();
  const head = document.createElement('tr');
  for (const h of ['id','stage','source','priority','every s','timeout s','circuit','last ms','last error']) {{
    const th = document.createElement('th'); th.textContent = h; head.appendChild(th); }}
  table.appendChild(head);
  for (const p of rows) {{
    const tr = document.createElement('tr');
    for (const v of [p.id, p.stage, p.source, p.priority, p.interval_s, p.timeout_s, p.circuit,
                     p.last_latency_ms == null ? null : p.last_latency_ms.toFixed(1), p.last_error])
      tr.appendChild(cell(v));
    table.appendChild(tr);
  }}
}}
async function refresh() {{
  try {{
    const state = await (await fetch('api/state', {{cache: 'no-store'}})).json();
    document.getElementById('tick').textContent = state.tick_id ?? '-';
    document.getElementById('outcome').textContent = state.last_outcome ?? 'no tick yet';
    document.getElementById('reason').textContent = state.last_reason;
    const health = document.getElementById('health');
    health.textContent = state.ready ? 'ready' : 'not ready: ' + state.not_ready.join('; ');
    health.className = state.ready ? 'ok' : 'bad';
    plugins(state.plugins);
    for (const name of ids) {{
      const fig = state.figures[name];
      Plotly.react('chart-' + name, fig.data, fig.layout, {{responsive: true, displaylogo: false}});
    }}
    document.body.dataset.tick = state.tick_id ?? '';
  }} catch (err) {{
    document.getElementById('health').textContent = 'planner unreachable';
    document.getElementById('health').className = 'bad';
  }}
}}
refresh(); setInterval(refresh, {poll});
</script></body></html>"""


def dashboard_routes(source: DashboardSource, wall_time: Callable[[], float]) -> dict[str, Route]:
    """`/` (the page), `/plotly.min.js` and `/api/state` (JSON)."""
    divs = "".join(f"<div id='chart-{name}' class='chart'></div>" for name in FIGURE_IDS)
    page = _PAGE.format(style=PAGE_STYLE, divs=divs, ids=json.dumps(list(FIGURE_IDS)), poll=POLL_MS).encode()

    def index() -> tuple[int, bytes, bytes]:
        return 200, b"text/html; charset=utf-8", page

    def script() -> tuple[int, bytes, bytes]:
        return 200, b"text/javascript; charset=utf-8", plotly_js().encode()

    def state() -> tuple[int, bytes, bytes]:
        body = json.dumps(dashboard_state(source, wall_time()), allow_nan=False, separators=(",", ":"))
        return 200, b"application/json", body.encode()

    return {"/": index, "/plotly.min.js": script, "/api/state": state}
