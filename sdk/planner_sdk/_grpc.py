"""Typed handles on the generated gRPC modules, and awaiting calls so cancellation stays clean."""

from __future__ import annotations

import asyncio
from typing import Any

from ._proto.planner.v1 import registry_pb2_grpc as _registry_grpc
from ._proto.planner.v1 import stages_pb2_grpc as _stages_grpc

__all__ = ["registry_grpc", "stages_grpc", "settled"]

registry_grpc: Any = _registry_grpc
stages_grpc: Any = _stages_grpc


async def settled(call: Any) -> Any:
    """Await a grpc.aio call so that a cancel scope can cut it cleanly.

    Awaiting the call directly, a cancellation reaches the caller through grpc's internal response
    task, which drops anyio's cancel message; anyio then cannot tell the CancelledError is its own
    and lets it escape the scope (or the task group) that asked for it. Waiting on a plain future
    keeps the message; the call is cancelled on the way out.
    """
    future = asyncio.ensure_future(call)
    try:
        await asyncio.wait({future})
    except BaseException:
        call.cancel()
        future.cancel()
        raise
    return future.result()
