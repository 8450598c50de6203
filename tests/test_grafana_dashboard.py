"""deploy/grafana/planner-dashboard.json: every query parses (promtool) and names series the planner exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from planner import Planner, VirtualClock
from planner.config import load_config

DASHBOARD = Path(__file__).parent.parent / "deploy" / "grafana" / "planner-dashboard.json"
PROMTOOL = shutil.which("promtool")


def queries() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in document["panels"] for target in panel["targets"]]


def as_promql(expr: str) -> str:
    """Grafana's variables as a query would see them."""
    return expr.replace("$__rate_interval", "1m").replace("$job", ".*")


def exported_families() -> set[str]:
    clock = VirtualClock()

    async def main() -> bytes:
        config = load_config(None, ["optimization_target=sla"])
        async with Planner(config, clock=clock) as p, clock.autojump():
            await p.run(max_ticks=2)
            return p.metrics.exposition()

    return {family.name for family in text_string_to_metric_families(anyio.run(main).decode())}


def test_the_dashboard_is_well_formed() -> None:
    document = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in document["templating"]["list"]} == {"datasource", "job"}
    for panel in document["panels"]:
        assert panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_every_query_names_a_series_the_planner_exports() -> None:
    families = exported_families()
    for expr in queries():
        for name in re.findall(r"\bplanner_[a-z_]+", expr):
            family = re.sub(r"_(total|bucket|count|sum)$", "", name)
            assert family in families, f"{name} in {expr!r} is not exported"


def test_every_query_parses_as_promql(tmp_path: Path) -> None:
    if PROMTOOL is None and os.environ.get("PLANNER_REQUIRE_PROMETHEUS") != "1":
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    assert PROMTOOL is not None, "PLANNER_REQUIRE_PROMETHEUS=1 but promtool is not on PATH"
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": as_promql(expr)} for i, expr in enumerate(queries())
    ]}]}  # fmt: skip
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
