"""Plotly figures (plain JSON) from tick snapshots: one set of charts for one run or several side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .history import Snapshot

__all__ = ["Run", "OracleLine", "figures", "FIGURE_IDS"]

_ROLE_COLOURS = {"prefill": "#1f77b4", "decode": "#ff7f0e", "agg": "#2ca02c"}
_RUN_DASHES = ("solid", "dot", "dash", "longdash", "dashdot", "longdashdot")
FIGURE_IDS = ("replicas", "gpus", "ttft", "itl", "rate", "lengths", "decisions")


@dataclass(frozen=True)
class OracleLine:
    """The oracle's fleet per role, as (window start, replicas) steps."""

    role: str
    points: Sequence[tuple[float, int]]


@dataclass(frozen=True)
class Run:
    """One config's (or one daemon's) snapshots, named for the legend."""

    name: str
    snapshots: Sequence[Snapshot]


def _name(run: Run, what: str, several: bool) -> str:
    return f"{run.name}: {what}" if several else what


FEW_POINTS = 60  # fewer ticks than this are marked too: a lone tick is no line at all


def _line(x: list[float], y: list[Any], name: str, colour: str, dash: str, **extra: Any) -> dict[str, Any]:
    mode = "lines+markers" if len(x) < FEW_POINTS else "lines"
    trace = {"type": "scatter", "mode": mode, "x": x, "y": y, "name": name, "connectgaps": False,
             "line": {"color": colour, "dash": dash, "shape": "hv", "width": 1.8}, "marker": {"size": 4}}  # fmt: skip
    trace.update(extra)
    return trace


def _layout(title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": title}, "height": 320, "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "xaxis": {"title": {"text": "time (s)"}},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "hovermode": "x unified",
    }  # fmt: skip
    layout.update(extra)
    return layout


def _roles(runs: Sequence[Run]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        for s in run.snapshots:
            seen.update(dict.fromkeys(s.expected))
    return list(seen)


def _replicas(runs: Sequence[Run], oracle: Sequence[OracleLine], several: bool) -> dict[str, Any]:
    data = []
    for i, run in enumerate(runs):
        dash = _RUN_DASHES[i % len(_RUN_DASHES)]
        x = [s.t for s in run.snapshots]
        for role in _roles(runs):
            colour = _ROLE_COLOURS.get(role, "#7f7f7f")
            data.append(_line(x, [s.expected.get(role) for s in run.snapshots],
                              _name(run, f"{role} expected", several), colour, dash))  # fmt: skip
            data.append(_line(x, [s.ready.get(role) for s in run.snapshots],
                              _name(run, f"{role} ready", several), colour, dash, opacity=0.45))  # fmt: skip
            changed = [s for s in run.snapshots if s.recommended and s.recommended.get(role) != s.expected.get(role)]
            data.append({
                "type": "scatter", "mode": "markers", "name": _name(run, f"{role} recommended", several),
                "x": [s.t for s in changed], "y": [s.recommended.get(role) for s in changed],
                "marker": {"color": colour, "symbol": "triangle-up-open", "size": 8},
            })  # fmt: skip
    for line in oracle:
        colour = _ROLE_COLOURS.get(line.role, "#7f7f7f")
        data.append(_line([p[0] for p in line.points], [p[1] for p in line.points], f"{line.role} oracle",
                          colour, "dash", opacity=0.7))  # fmt: skip
    return {"data": data, "layout": _layout("Replicas per role", "engines")}


def _gpus(runs: Sequence[Run], several: bool) -> dict[str, Any]:
    data = [
        _line([s.t for s in run.snapshots], [s.gpus for s in run.snapshots], _name(run, "GPUs", several),
              "#9467bd", _RUN_DASHES[i % len(_RUN_DASHES)])
        for i, run in enumerate(runs)
    ]  # fmt: skip
    return {"data": data, "layout": _layout("GPUs asked for", "GPUs")}


def _latency(runs: Sequence[Run], quantity: str, label: str, target: float | None, several: bool) -> dict[str, Any]:
    data = []
    for i, run in enumerate(runs):
        dash = _RUN_DASHES[i % len(_RUN_DASHES)]
        x = [s.t for s in run.snapshots]
        data.append(_line(x, [s.observed.get(quantity) for s in run.snapshots],
                          _name(run, f"observed {label} (mean)", several), "#2ca02c", dash))  # fmt: skip
        data.append(_line(x, [s.estimated.get(quantity) for s in run.snapshots],
                          _name(run, f"estimated {label} (proposed fleet)", several), "#d62728", dash))  # fmt: skip
    shapes = []
    if target is not None:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": target, "y1": target,
                       "line": {"color": "#444", "dash": "dash", "width": 1}})  # fmt: skip
        data.append({"type": "scatter", "mode": "lines", "x": [], "y": [], "name": f"{label} target {target:g} ms",
                     "line": {"color": "#444", "dash": "dash"}})  # fmt: skip
    return {"data": data, "layout": _layout(f"{label}: observed, estimated, target", "ms", shapes=shapes)}


def _observed_vs_predicted(runs: Sequence[Run], names: Sequence[tuple[str, str]], title: str, unit: str,
                           several: bool) -> dict[str, Any]:  # fmt: skip
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
    data = []
    for i, run in enumerate(runs):
        dash = _RUN_DASHES[i % len(_RUN_DASHES)]
        x = [s.t for s in run.snapshots]
        for j, (quantity, label) in enumerate(names):
            colour = palette[j % len(palette)]
            data.append(_line(x, [s.observed.get(quantity) for s in run.snapshots],
                              _name(run, f"observed {label}", several), colour, dash))  # fmt: skip
            data.append(_line(x, [s.predicted.get(quantity) for s in run.snapshots],
                              _name(run, f"predicted {label}", several), colour, dash, opacity=0.5))  # fmt: skip
    return {"data": data, "layout": _layout(title, unit)}


def _decisions(runs: Sequence[Run]) -> dict[str, Any]:
    data = []
    for run in runs:
        shown = [s for s in run.snapshots if s.decision_id is not None or s.outcome in (
            "skipped_timeout", "skipped_error", "skipped_rejected", "apply_failed")]  # fmt: skip
        data.append({
            "type": "scatter", "mode": "markers", "name": f"{run.name} decisions",
            "x": [s.t for s in shown], "y": [run.name] * len(shown),
            "text": [_hover(s) for s in shown], "hoverinfo": "text",
            "marker": {"size": 9, "symbol": [_symbol(s.outcome) for s in shown],
                       "color": [_colour(s.outcome) for s in shown]},
        })  # fmt: skip
    layout = _layout("Decisions (hover for the reasons)", "", height=120 + 40 * len(runs), hovermode="closest")
    layout["yaxis"] = {"type": "category"}
    if not any(trace["x"] for trace in data):
        layout["annotations"] = [{"text": "no decision yet: every tick kept the fleet", "showarrow": False,
                                  "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]  # fmt: skip
        layout["xaxis"] = {**layout["xaxis"], "visible": False}
    return {"data": data, "layout": layout}


def _hover(s: Snapshot) -> str:
    targets = ", ".join(f"{role} {s.expected.get(role)}->{n}" for role, n in s.recommended.items())
    head = f"t={s.t:.0f}s tick {s.tick_id} {s.outcome}" + (f" #{s.decision_id}" if s.decision_id else "")
    return "<br>".join([head, targets, *_wrapped(s.reason)])


def _wrapped(text: str, width: int = 100, lines: int = 6) -> list[str]:
    parts = [text[i : i + width] for i in range(0, min(len(text), width * lines), width)]
    return [p.replace("<", "&lt;") for p in parts]


def _symbol(outcome: str) -> str:
    return {"applied": "circle", "advisory": "circle-open"}.get(outcome, "x")


def _colour(outcome: str) -> str:
    return {"applied": "#2ca02c", "advisory": "#17becf"}.get(outcome, "#d62728")


def figures(
    runs: Sequence[Run],
    *,
    ttft_ms: float | None,
    itl_ms: float | None,
    oracle: Sequence[OracleLine] = (),
    wall_clock: bool = False,
) -> dict[str, dict[str, Any]]:
    """The report's charts by id (FIGURE_IDS), each a Plotly figure as plain JSON. With
    `wall_clock`, times are epoch seconds drawn as dates (a daemon); else seconds from the start."""
    several = len(runs) > 1
    charts = {
        "replicas": _replicas(runs, oracle, several),
        "gpus": _gpus(runs, several),
        "ttft": _latency(runs, "ttft_ms", "TTFT", ttft_ms, several),
        "itl": _latency(runs, "itl_ms", "ITL", itl_ms, several),
        "rate": _observed_vs_predicted(runs, [("requests_per_second", "requests/s")], "Request rate", "req/s", several),
        "lengths": _observed_vs_predicted(
            runs, [("isl", "ISL"), ("osl", "OSL")], "Input and output lengths", "tokens", several
        ),
        "decisions": _decisions(runs),
    }
    if wall_clock:
        for chart in charts.values():
            shown = chart["layout"]["xaxis"].get("visible", True)
            chart["layout"]["xaxis"] = {"type": "date", "title": {"text": "time (UTC)"}, "visible": shown}
            for trace in chart["data"]:
                trace["x"] = [x * 1000.0 for x in trace["x"]]
    return charts
