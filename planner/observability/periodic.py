"""A report every `report_interval_hours` of planner time into `report_output_dir`, and one at the end."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..clock import Clock
from ..config import PlannerConfig
from .charts import Run
from .history import History
from .report import render_report, write_report

__all__ = ["PeriodicReports"]

log = logging.getLogger("planner")


class PeriodicReports:
    """Writes the ticks since the last report as one self-contained HTML file. A directory that
    cannot be written costs the report, said once per failing streak, never a tick."""

    def __init__(self, config: PlannerConfig, history: History, clock: Clock) -> None:
        assert config.report_interval_hours is not None
        self.interval_s = config.report_interval_hours * 3600.0
        self.directory = Path(config.report_output_dir)
        self.config, self.history, self.clock = config, history, clock
        self.written: list[Path] = []
        self._last_tick = 0
        self._failing = False

    async def run(self) -> None:
        clock = self.clock
        while True:
            await clock.sleep_until(clock.monotonic() + self.interval_s)
            self.write_now()

    def write_now(self) -> Path | None:
        """Report the ticks since the last report (none: no file); the path written, or None."""
        snapshots = self.history.after_tick(self._last_tick)
        if not snapshots:
            return None
        first, last = snapshots[0], snapshots[-1]
        # Planner time names the file: in a sped-up simulation that is the simulated hour reported.
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(last.t))
        path = self.directory / f"planner-report-{stamp}-ticks-{first.tick_id}-{last.tick_id}.html"
        title = f"planner report: ticks {first.tick_id}-{last.tick_id} ({last.t - first.t:.0f} s)"
        page = render_report(title, [Run(self.config.environment, snapshots)], ttft_ms=self.config.ttft_ms,
                             itl_ms=self.config.itl_ms, wall_clock=True)  # fmt: skip
        try:
            write_report(path, page)
        except OSError as exc:
            if not self._failing:
                log.warning("report_output_dir=%s: cannot write reports (%s); the planner goes on without them",
                            self.directory, exc)  # fmt: skip
            self._failing = True
            return None
        if self._failing:
            log.info("report_output_dir=%s: writable again", self.directory)
        self._failing = False
        self._last_tick = last.tick_id
        self.written.append(path)
        log.info("report written: %s", path)
        return path
