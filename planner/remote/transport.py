"""The remote transport: the plugin interface behind a gRPC channel (the second side of the seam)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from planner_sdk import (
    Decision,
    PluginConnectionError,
    PluginError,
    PluginProtocolError,
    PluginSpec,
    PluginTimeoutError,
    Stage,
    StageResult,
    TickContext,
)
from planner_sdk import _wire as wire
from planner_sdk._grpc import settled
from planner_sdk._grpc import stages_grpc as sgrpc
from planner_sdk._proto.planner.v1 import stages_pb2 as spb

from ..observability.tracing import inject_trace_context

__all__ = ["RemoteTransport", "channel_for"]

# stage -> (service and method name, request message, reader of the reply)
_STAGE_RPC: dict[Stage, tuple[str, Any, Callable[[Any], StageResult]]] = {
    Stage.OBSERVE: ("Observe", spb.ObserveRequest, wire.observations_from_proto),
    Stage.PREDICT: ("Predict", spb.PredictRequest, wire.predict_result_from_proto),
    Stage.PROPOSE: ("Propose", spb.ProposeRequest, wire.propose_result_from_proto),
    Stage.CLAMP: ("Clamp", spb.ClampRequest, wire.propose_result_from_proto),
    Stage.APPLY: ("Apply", spb.ApplyRequest, wire.ack_from_proto),
}

# Closing a plugin's channel (it unregistered, or was evicted) lets a call in flight end by itself: its
# own gRPC deadline, the tick's budget, ends it; this bounds only a stack that does not keep it.
_CLOSE_GRACE_SECONDS = 30.0

_CONNECTION_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}


def channel_for(
    endpoint: str, max_message_bytes: int, credentials: grpc.ChannelCredentials | None = None
) -> grpc.aio.Channel:
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.enable_retries", 0),  # a retry would outlive the tick's deadline
    ]
    if credentials is not None and not endpoint.startswith("unix:"):
        return grpc.aio.secure_channel(endpoint, credentials, options=options)
    return grpc.aio.insecure_channel(endpoint, options=options)


class RemoteTransport:
    """Calls a plugin's stage service; each call's gRPC deadline is the budget the core gives it."""

    def __init__(
        self,
        spec: PluginSpec,
        endpoint: str,
        max_message_bytes: int,
        credentials: grpc.ChannelCredentials | None = None,
        close_grace_seconds: float = _CLOSE_GRACE_SECONDS,
    ) -> None:
        self._spec = spec
        self.endpoint = endpoint
        self._channel = channel_for(endpoint, max_message_bytes, credentials)
        self._call = self._bind(spec.stage)
        self._closed = False
        self._close_grace = close_grace_seconds

    @property
    def spec(self) -> PluginSpec:
        return self._spec

    def _bind(self, stage: Stage) -> Callable[[TickContext, Decision | None, float], Awaitable[StageResult]]:
        service, request_type, read = _STAGE_RPC[stage]
        method = getattr(getattr(sgrpc, f"{service}PluginStub")(self._channel), service)

        async def call(ctx: TickContext, decision: Decision | None, budget: float) -> StageResult:
            request = request_type(context=wire.context_to_proto(ctx))
            if decision is not None:
                request.decision.CopyFrom(wire.decision_to_proto(decision))
            carrier: dict[str, str] = {}
            inject_trace_context(carrier)  # the plugin's spans continue the planner's tick
            return read(await settled(method(request, timeout=budget, metadata=tuple(carrier.items()) or None)))

        return call

    async def invoke(self, ctx: TickContext, decision: Decision | None, budget_seconds: float) -> StageResult:
        plugin_id = self._spec.id
        if self._closed:
            raise PluginConnectionError(plugin_id, "unregistered or evicted before the call")
        try:
            return await self._call(ctx, decision, max(budget_seconds, 0.001))
        except asyncio.CancelledError:
            # A closed channel cancels the calls still in flight after its grace, and grpc.aio raises that
            # as if the caller were cancelled; a caller really cancelled (the tick's deadline, a shutdown)
            # has a cancellation pending on its task.
            task = asyncio.current_task()
            if self.is_closed() and task is not None and task.cancelling() == 0:
                raise PluginConnectionError(plugin_id, "unregistered or evicted during the call") from None
            raise
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PluginTimeoutError(plugin_id, f"no answer within {budget_seconds:.3g} s") from None
            if code in _CONNECTION_CODES:
                raise PluginConnectionError(plugin_id, f"{code.name} at {self.endpoint}: {details}") from None
            if code is grpc.StatusCode.UNIMPLEMENTED:
                raise PluginProtocolError(plugin_id, f"serves no {self._spec.stage.value} service") from None
            raise PluginError(plugin_id, f"{code.name}: {details}") from None
        except ValueError as exc:  # a message that decodes but says nothing valid
            raise PluginProtocolError(plugin_id, str(exc)) from None

    def is_closed(self) -> bool:
        """Whether `aclose` has begun: the plugin is gone and no new call is made."""
        return self._closed

    async def aclose(self) -> None:
        self._closed = True
        await self._channel.close(self._close_grace)
