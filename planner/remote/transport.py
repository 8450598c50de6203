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
from planner_sdk._grpc import stages_grpc as sgrpc
from planner_sdk._proto.planner.v1 import stages_pb2 as spb

__all__ = ["RemoteTransport", "channel_for"]

_CONNECTION_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}


async def _settled(call: Any) -> Any:
    """Await a grpc.aio call so that a cancel scope can cut it cleanly.

    Awaiting the call directly, a cancellation reaches us through grpc's internal response task,
    which drops the cancel scope's message; anyio then cannot tell it is its own and lets the
    CancelledError escape. Waiting on a plain future keeps the message; the call is cancelled
    on the way out.
    """
    future = asyncio.ensure_future(call)
    try:
        await asyncio.wait({future})
    except BaseException:
        call.cancel()
        future.cancel()
        raise
    return future.result()


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
    ) -> None:
        self._spec = spec
        self.endpoint = endpoint
        self._channel = channel_for(endpoint, max_message_bytes, credentials)
        self._call = self._bind(spec.stage)

    @property
    def spec(self) -> PluginSpec:
        return self._spec

    def _bind(self, stage: Stage) -> Callable[[TickContext, Decision | None, float], Awaitable[StageResult]]:
        channel = self._channel
        if stage is Stage.OBSERVE:
            observe = sgrpc.ObservePluginStub(channel).Observe

            async def call_observe(ctx: TickContext, _: Decision | None, budget: float) -> StageResult:
                reply = await _settled(observe(spb.ObserveRequest(context=wire.context_to_proto(ctx)), timeout=budget))
                return wire.observations_from_proto(reply)

            return call_observe
        if stage is Stage.PREDICT:
            predict = sgrpc.PredictPluginStub(channel).Predict

            async def call_predict(ctx: TickContext, _: Decision | None, budget: float) -> StageResult:
                reply = await _settled(predict(spb.PredictRequest(context=wire.context_to_proto(ctx)), timeout=budget))
                return wire.predict_result_from_proto(reply)

            return call_predict
        if stage in (Stage.PROPOSE, Stage.CLAMP):
            method = (
                sgrpc.ProposePluginStub(channel).Propose
                if stage is Stage.PROPOSE
                else sgrpc.ClampPluginStub(channel).Clamp
            )
            request_type: Any = spb.ProposeRequest if stage is Stage.PROPOSE else spb.ClampRequest

            async def call_propose(ctx: TickContext, _: Decision | None, budget: float) -> StageResult:
                reply = await _settled(method(request_type(context=wire.context_to_proto(ctx)), timeout=budget))
                return wire.propose_result_from_proto(reply)

            return call_propose
        apply = sgrpc.ApplyPluginStub(channel).Apply

        async def call_apply(ctx: TickContext, decision: Decision | None, budget: float) -> StageResult:
            assert decision is not None
            request = spb.ApplyRequest(context=wire.context_to_proto(ctx), decision=wire.decision_to_proto(decision))
            return wire.ack_from_proto(await _settled(apply(request, timeout=budget)))

        return call_apply

    async def invoke(self, ctx: TickContext, decision: Decision | None, budget_seconds: float) -> StageResult:
        plugin_id = self._spec.id
        try:
            return await self._call(ctx, decision, max(budget_seconds, 0.001))
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

    async def aclose(self) -> None:
        await self._channel.close(None)
