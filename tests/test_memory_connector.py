"""The in-memory connector: engines start after a delay, go at once, and ids only grow."""

from __future__ import annotations

import pytest

from helpers import memory
from planner import ConnectorError, VirtualClock
from planner_sdk import Decision, ReplicaCount, Role

pytestmark = pytest.mark.anyio
P, D = Role.PREFILL, Role.DECODE


async def test_added_engines_become_ready_after_the_startup_delay() -> None:
    clock = VirtualClock()
    connector = memory(clock, 1, 1, delay=60)
    await connector.apply(Decision(1, {P: 3, D: 1}))
    assert (await connector.current_replicas())[P] == ReplicaCount(ready=1, expected=3)
    clock.advance(60)
    assert (await connector.current_replicas())[P] == ReplicaCount(ready=3, expected=3)


async def test_removed_engines_leave_at_once_starting_ones_first() -> None:
    clock = VirtualClock()
    connector = memory(clock, 2, 1, delay=60)
    await connector.apply(Decision(1, {P: 4}))
    await connector.apply(Decision(2, {P: 3}))
    assert (await connector.current_replicas())[P] == ReplicaCount(ready=2, expected=3)


async def test_a_stale_or_repeated_decision_id_is_ignored() -> None:
    clock = VirtualClock()
    connector = memory(clock)
    await connector.apply(Decision(2, {P: 5}))
    await connector.apply(Decision(2, {P: 9}))
    await connector.apply(Decision(1, {P: 7}))
    assert (await connector.current_replicas())[P].expected == 5
    assert [d.decision_id for d in connector.applied] == [2]


async def test_wait_ready_returns_when_every_engine_is_ready() -> None:
    clock = VirtualClock()
    connector = memory(clock, 1, 1, delay=30)
    await connector.apply(Decision(1, {P: 2, D: 2}))
    async with clock.autojump():
        assert await connector.wait_ready(deadline=100)
    assert clock.monotonic() == 30


async def test_wait_ready_gives_up_at_the_deadline() -> None:
    clock = VirtualClock()
    connector = memory(clock, 1, 1, delay=300)
    await connector.apply(Decision(1, {P: 2}))
    async with clock.autojump():
        assert not await connector.wait_ready(deadline=100)
    assert clock.monotonic() == 100


async def test_a_role_the_deployment_lacks_is_an_error() -> None:
    connector = memory(VirtualClock())
    with pytest.raises(ConnectorError, match="lacks"):
        await connector.apply(Decision(1, {Role.AGG: 2}))
