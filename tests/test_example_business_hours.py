"""The business-hours floor example, driven through real ticks of the pipeline."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from helpers import Propose, memory, planner, set_targets
from planner import TickRecord, VirtualClock
from planner_sdk import Role

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "business_hours_floor"))
from business_hours_floor import BusinessHoursFloor

pytestmark = pytest.mark.anyio

MONDAY_9AM = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC).timestamp()
SATURDAY_9AM = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC).timestamp()


async def decide(epoch: float) -> TickRecord:
    clock = VirtualClock(epoch=epoch)
    records: list[TickRecord] = []
    floor = BusinessHoursFloor(prefill=2, decode=3)
    shrink = Propose("shrinker", set_targets(1, 1))
    async with planner(clock, floor, shrink, connector=memory(clock, 4, 4), records=records) as p, clock.autojump():
        await p.run(max_ticks=1)
    return records[0]


async def test_during_business_hours_the_fleet_does_not_shrink_below_the_floor() -> None:
    record = await decide(MONDAY_9AM)
    assert record.targets == {Role.PREFILL: 2, Role.DECODE: 3}


async def test_on_a_weekend_the_floor_has_no_say() -> None:
    record = await decide(SATURDAY_9AM)
    assert record.targets == {Role.PREFILL: 1, Role.DECODE: 1}


def test_hours_are_read_in_the_configured_zone() -> None:
    plugin = BusinessHoursFloor(prefill=1, decode=1, utc_offset_hours=-5)
    assert not plugin.is_open(MONDAY_9AM)  # 04:00 in UTC-5
    assert plugin.is_open(MONDAY_9AM + 5 * 3600)


def test_impossible_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="open_hour=18, close_hour=8"):
        BusinessHoursFloor(prefill=1, decode=1, open_hour=18, close_hour=8)
