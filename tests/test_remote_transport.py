"""The gRPC transport when its plugin leaves (unregisters, or is evicted) around a call.

A real plugin server (the SDK's) on a Unix socket and a real channel to it; no planner.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from planner.remote import RemoteTransport
from planner_sdk import (
    PlannerView,
    PluginConnectionError,
    PluginServer,
    PluginSpec,
    ProposePlugin,
    ProposeResult,
    Role,
    Stage,
    TickContext,
)

pytestmark = pytest.mark.anyio
MAX_MESSAGE = 4 * 1024 * 1024


class Pondering(ProposePlugin):
    """Takes `answer_after` seconds over each call and says when one began."""

    def __init__(self, answer_after: float) -> None:
        self.spec = PluginSpec(id="pondering", stage=Stage.PROPOSE, execution_interval_seconds=1, timeout_seconds=5)
        self.answer_after = answer_after
        self.called = anyio.Event()

    async def propose(self, ctx: TickContext) -> ProposeResult:
        self.called.set()
        await anyio.sleep(self.answer_after)
        return ProposeResult.at_least({Role.DECODE: 2}, reason="pondered")


def tick() -> TickContext:
    view = PlannerView("disagg", (Role.PREFILL, Role.DECODE), "throughput", 500, 50, -1, {}, {})
    return TickContext(1, 1, 0.0, view)


async def call_and_close(tmp_path: Path, answer_after: float, grace: float) -> ProposeResult:
    """Close the transport once the plugin has begun answering, as an unregistration does."""
    plugin = Pondering(answer_after)
    server = PluginServer(plugin, f"unix://{tmp_path}/plugin.sock")
    transport = RemoteTransport(plugin.spec, await server.start(), MAX_MESSAGE, close_grace_seconds=grace)
    results: list[ProposeResult] = []

    async def call() -> None:
        result = await transport.invoke(tick(), None, 5.0)
        assert isinstance(result, ProposeResult)
        results.append(result)

    async def close_once_called() -> None:
        await plugin.called.wait()
        await transport.aclose()

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(call)
                group.start_soon(close_once_called)
    finally:
        await server.stop(0)
    return results[0]


async def test_a_call_in_flight_when_the_plugin_leaves_is_heard_out(tmp_path: Path) -> None:
    result = await call_and_close(tmp_path, answer_after=0.2, grace=5.0)
    assert result.reason == "pondered"


async def test_a_call_the_closing_cuts_off_is_a_connection_error_not_a_cancellation(tmp_path: Path) -> None:
    # grpc.aio raises the cut as the caller's own CancelledError, which would unwind the whole tick
    with pytest.raises(ExceptionGroup) as raised:
        await call_and_close(tmp_path, answer_after=3600, grace=0.1)
    (error,) = raised.value.exceptions
    assert isinstance(error, PluginConnectionError)
    assert "during the call" in str(error)


async def test_a_closed_transport_does_not_call_its_plugin(tmp_path: Path) -> None:
    plugin = Pondering(0)
    server = PluginServer(plugin, f"unix://{tmp_path}/plugin.sock")
    transport = RemoteTransport(plugin.spec, await server.start(), MAX_MESSAGE)
    try:
        await transport.aclose()
        with pytest.raises(PluginConnectionError, match="before the call"):
            await transport.invoke(tick(), None, 5.0)
        assert not plugin.called.is_set()
    finally:
        await server.stop(0)
