"""The README stays true: its config reference is complete and its plugin example runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from helpers import Observe, planner
from planner import TickRecord, VirtualClock
from planner.config import PlannerConfig
from planner_sdk import Observations, Role, WorkerLoad

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def setting_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += setting_paths(annotation, f"{prefix}{name}.")
        else:
            paths.append(prefix + name)
    return paths


@pytest.mark.parametrize("path", setting_paths(PlannerConfig))
def test_every_setting_is_in_the_reference(path: str) -> None:
    assert f"| `{path}` |" in README


def test_the_two_commands_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "make run" in README
    assert "make test" in README
    assert re.search(r"^run:", makefile, re.M)
    assert re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.anyio
async def test_the_plugin_example_runs_in_a_real_tick() -> None:
    code = re.search(r"```python\n(.*?)```", README, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    queue_floor = namespace["QueueFloor"](min_decode=3)
    queue = Observe("queue", Observations(workers=(WorkerLoad("d0", Role.DECODE, queued_kv_tokens=5000),)))
    clock = VirtualClock()
    records: list[TickRecord] = []
    async with planner(clock, queue_floor, queue, records=records) as p, clock.autojump():
        await p.run(max_ticks=1)
    assert records[0].targets == {Role.PREFILL: 1, Role.DECODE: 3}
