"""The `planner` command: version, validate-config, and a real daemon stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner import Planner, VirtualClock, load_config
from planner.cli import DEMO_CONFIG, main
from planner.daemon import planned_base_cadence

pytestmark = pytest.mark.e2e


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("planner ")


def test_validate_config_prints_the_effective_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "planner.yaml"
    path.write_text("ttft: 250\n")
    assert main(["validate-config", str(path), "--set", "itl_ms=20"]) == 0
    out = capsys.readouterr().out
    assert "ttft_ms: 250.0" in out
    assert "itl_ms: 20.0" in out
    assert "tick_max_duration_seconds: 30.0" in out


def test_validate_config_prints_the_base_cadence_the_planner_will_tick_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "planner.yaml"
    path.write_text(
        "optimization_target: sla\nthroughput_adjustment_interval_seconds: 60\n"
        "plugin_registration:\n  static_plugins:\n"
        "    - {endpoint: 'unix:///tmp/p.sock', id: fast, stage: propose, execution_interval_seconds: 15}\n"
    )
    assert main(["validate-config", str(path)]) == 0
    assert "scale_interval_seconds: 5.0" in capsys.readouterr().out  # gcd(60, 15, the 10 s surge check)


@pytest.mark.anyio
async def test_the_planned_base_cadence_is_the_one_the_embedded_planner_ticks_at() -> None:
    config = load_config(DEMO_CONFIG)
    async with Planner(config, clock=VirtualClock()) as planner:
        assert planner.scheduler.base == planned_base_cadence(config)


def test_validate_config_never_prints_a_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "planner.yaml"
    path.write_text("prometheus:\n  bearer_token: hunter2-very-secret\n")
    assert main(["validate-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "bearer_token: <redacted>" in out


def test_a_bad_secret_is_reported_without_its_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "planner.yaml"
    path.write_text("prometheus:\n  bearer_token: [hunter2, very-secret]\n")
    assert main(["validate-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "prometheus.bearer_token: the value given (<redacted>) is invalid" in err
    assert "hunter2" not in err


def test_validate_config_lists_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "planner.yaml"
    path.write_text("max_gpu_budget: -3\nscheduling:\n  tick_max_duration_seconds: 0\nsurprise: 1\n")
    assert main(["validate-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "max_gpu_budget: -3 is invalid" in err
    assert "scheduling.tick_max_duration_seconds: 0 is invalid" in err
    assert "surprise: unknown setting" in err


def test_run_with_a_bad_override_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--set", "ttft_ms=-1"]) == 2
    assert "ttft_ms: -1 is invalid" in capsys.readouterr().err


def _wait_for(path: Path, needle: str, deadline_s: float, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not seen within {deadline_s} s; output:\n{path.read_text(errors='replace')}")


def test_sigterm_stops_a_running_daemon_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "planner.log"
    record = tmp_path / "decisions.jsonl"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "planner", "run", "--speed", "50", "--set", f"decision_record_path={record}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        _wait_for(log, "| applied |", 60, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "SIGTERM: finishing the tick in flight, then stopping" in text
    assert "stopped after" in text
    lines = record.read_text().splitlines()
    assert lines
    assert all(line.endswith("}") for line in lines)  # no half-written record
