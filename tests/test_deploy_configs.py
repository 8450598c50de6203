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
