"""Periodic reports from the running planner, and the live dashboard's state, on the virtual clock."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import pytest

from helpers import Propose, memory, planner, set_targets
from planner import VirtualClock
from planner.observability.charts import FIGURE_IDS
from planner.observability.dashboard import dashboard_routes, dashboard_state


def run_planner(ticks: int, **overrides: object) -> object:
    clock = VirtualClock()

    async def main() -> object:
        p = planner(clock, Propose("fixed", set_targets(2, 2), interval=600.0), connector=memory(clock),
                    scheduling={"scale_interval_seconds": 600.0}, **overrides)  # fmt: skip
        async with p, clock.autojump():
            await p.run(max_ticks=ticks)
        return p

    return anyio.run(main)


def test_a_report_is_written_every_interval_and_one_at_the_end(tmp_path: Path) -> None:
    p = run_planner(16, report_interval_hours=1.0, report_output_dir=str(tmp_path / "reports"))
    written = sorted((tmp_path / "reports").glob("planner-report-*.html"))
    # 16 ticks 10 minutes apart: reports at 1 h and 2 h of planner time, then the rest at the stop.
    assert len(written) == 3
    assert written == sorted(p.reports.written)  # type: ignore[attr-defined]
    spans = [tuple(map(int, name.stem.rsplit("ticks-", 1)[1].split("-"))) for name in p.reports.written]  # type: ignore[attr-defined]
    covered = [tick for first, last in spans for tick in range(first, last + 1)]
    assert covered == list(range(1, 17))  # every tick in exactly one report
    page = written[0].read_text()
    assert "Plotly.newPlot" in page
    assert "<script src=" not in page  # plotly.js is inside: it opens offline


def test_an_unwritable_report_directory_is_one_line_and_ticks_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    with caplog.at_level(logging.WARNING, logger="planner"):
        p = run_planner(16, report_interval_hours=1.0, report_output_dir=str(blocked / "reports"))
    assert p.last_record.tick_id == 16  # type: ignore[attr-defined]
    lines = [r.getMessage() for r in caplog.records if "report_output_dir" in r.getMessage()]
    assert len(lines) == 1
    assert "cannot write reports" in lines[0]


def test_no_reports_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = run_planner(3)
    assert p.reports is None  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []


def test_no_history_is_kept_when_no_report_or_dashboard_reads_it() -> None:
    assert len(run_planner(3).history) == 0  # type: ignore[attr-defined]
    assert len(run_planner(3, live_dashboard_port=8080).history) == 3  # type: ignore[attr-defined]


def test_the_dashboard_state_has_every_chart_the_plugins_and_health() -> None:
    p = run_planner(3, live_dashboard_port=8080)  # served by `planner run`; here only its state is read
    state = dashboard_state(p, 0.0)  # type: ignore[arg-type]
    assert state["tick_id"] == 3
    assert state["ready"] is False  # the planner has stopped
    assert "stopped" in state["not_ready"]
    assert set(state["figures"]) == set(FIGURE_IDS)
    assert [plugin["id"] for plugin in state["plugins"]] == ["fixed"]
    assert state["plugins"][0]["circuit"] == "closed"
    json.dumps(state, allow_nan=False)  # strict JSON: the page parses it


def test_the_dashboard_serves_its_page_plotly_and_state() -> None:
    p = run_planner(2, live_dashboard_port=8080)
    routes = dashboard_routes(p, lambda: 0.0)  # type: ignore[arg-type]
    code, kind, body = routes["/"]()
    assert (code, kind) == (200, b"text/html; charset=utf-8")
    assert b"api/state" in body
    code, kind, body = routes["/plotly.min.js"]()
    assert code == 200
    assert len(body) > 1_000_000
    code, kind, body = routes["/api/state"]()
    assert json.loads(body)["tick_id"] == 2
