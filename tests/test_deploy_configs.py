"""Every shipped config file loads, so the examples in deploy/ and examples/ stay true."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted([*ROOT.glob("deploy/config/*.yaml"), *ROOT.glob("examples/*/planner.yaml")])


def test_there_are_shipped_configs() -> None:
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_is_valid(path: Path) -> None:
    load_config(path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_writes_run_output_outside_the_sources(path: Path) -> None:
    """Run output goes under the git-ignored ./var/ (or an absolute path), never beside the sources."""
    record = load_config(path).decision_record_path
    if record is not None:
        assert Path(record).is_absolute() or Path(record).parts[0] == "var", record
