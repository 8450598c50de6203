"""Fuzzing over real gRPC: arbitrary bytes sent to the registry as each of its requests get a gRPC
status or a refusal, and arbitrary bytes answered by a plugin as its stage's reply cost that plugin
its say; the planner keeps ticking through both. A tenth of `FUZZ_EXAMPLES` (20 here) per test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import grpc
import grpc.aio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from remote_harness import TOKEN, running_planner

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

EXAMPLES = max(1, int(os.environ.get("FUZZ_EXAMPLES", "200")) // 10)  # each is a real call
METHODS = ("Register", "Heartbeat", "Unregister", "ListPlugins")


async def send_raw(address: str, method: str, payload: bytes) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(f"/planner.v1.PluginRegistry/{method}")  # bytes in, bytes out
        try:
            await call(payload, timeout=2.0, metadata=[("authorization", f"Bearer {TOKEN}")])
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


async def test_arbitrary_bytes_to_the_registry_get_a_status_and_ticks_go_on(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        codes: list[grpc.StatusCode] = []

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(METHODS), st.binary(max_size=200))
        def probe(method: str, payload: bytes) -> None:
            codes.append(anyio.from_thread.run(send_raw, h.address, method, payload))

        ticks = len(h.records)
        await anyio.to_thread.run_sync(probe)
        assert codes
        # A message that does not parse is gRPC's to refuse (UNKNOWN: the stub failed to decode it).
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                              grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED}  # fmt: skip
        await h.wait_for(lambda: len(h.records) > ticks + 3, what="ticks going on")


class RandomAnswers:
    """A Propose service answering whatever bytes it is handed next."""

    def __init__(self) -> None:
        self.next: bytes = b""
        self.served = 0

    def handler(self) -> grpc.GenericRpcHandler:
        async def propose(request: bytes, context: Any) -> bytes:
            self.served += 1
            return self.next

        method = grpc.unary_unary_rpc_method_handler(propose)  # identity (de)serialisers: raw bytes
        return grpc.method_handlers_generic_handler("planner.v1.ProposePlugin", {"Propose": method})


async def test_arbitrary_bytes_as_a_plugin_answer_cost_it_its_say(tmp_path: Path) -> None:
    answers = RandomAnswers()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((answers.handler(),))
    endpoint = f"unix://{tmp_path}/random.sock"
    server.add_insecure_port(endpoint)
    await server.start()
    try:
        static = {"endpoint": endpoint, "id": "random_answers", "stage": "propose",
                  "execution_interval_seconds": 0.1, "timeout_seconds": 1.0}  # fmt: skip
        # Static: no heartbeats needed; a breaker that never opens, so every example reaches the planner.
        async with running_planner(tmp_path, static_plugins=[static], circuit_breaker_failures=10**6) as h:

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            @given(st.binary(max_size=300))
            def answer_with(payload: bytes) -> None:
                answers.next = payload
                served = answers.served
                anyio.from_thread.run(h.wait_for, lambda: answers.served > served, 15.0, "a call with it")

            await anyio.to_thread.run_sync(answer_with)
            statuses = {c.status for c in h.calls_of("random_answers")}
            assert statuses <= {"ok", "error", "circuit_open", "not_due", "timeout"}
            assert all(d.targets for d in h.connector.applied)  # whatever was applied went through safety
            ticks = len(h.records)
            await h.wait_for(lambda: len(h.records) > ticks + 3, what="ticks going on")
    finally:
        await server.stop(None)
