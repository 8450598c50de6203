"""Remote plugins end to end: real gRPC over Unix sockets and loopback TCP, plugins in their own processes.

In every fault case the planner keeps ticking and nothing unclamped is applied.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio
import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from remote_harness import TOKEN, running_planner

from planner_sdk import Role
from planner_sdk._grpc import registry_grpc
from planner_sdk._proto.planner.v1 import registry_pb2 as rpb

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def decode_targets(harness: object) -> list[int]:
    return [d.targets[Role.DECODE] for d in harness.connector.applied]  # type: ignore[attr-defined]


async def test_a_remote_plugin_registers_and_its_proposal_is_applied(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("floor", "remote_floor")
        await h.wait_for(lambda: 3 in decode_targets(h), what="the remote floor to be applied")
        assert any(c.status == "ok" for c in h.calls_of("remote_floor"))


async def test_a_remote_apply_plugin_receives_and_acknowledges_each_decision(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        acker = h.start_plugin("ack", "acker")
        await h.wait_for(lambda: h.planner.registry.get("acker") is not None, what="registration")
        h.start_plugin("floor", "mover")
        await h.wait_for(lambda: any(c.status == "ok" for c in h.calls_of("acker")), what="an acknowledgement")
        ack = next(c for c in h.calls_of("acker") if c.status == "ok")
        assert ack.result.accepted
        assert ack.result.decision_id == h.connector.applied[0].decision_id
        assert acker.stdout is not None
        with anyio.fail_after(15):
            line = await anyio.to_thread.run_sync(acker.stdout.readline)
        assert line.decode().startswith(f"decision {ack.result.decision_id} [('decode', 3)")


async def test_a_hung_plugin_is_cut_at_its_timeout_and_ticks_go_on(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("hang", "remote_hang")
        await h.wait_for(lambda: any(c.status == "timeout" for c in h.calls_of("remote_hang")), what="a timeout")
        timeout = next(c for c in h.calls_of("remote_hang") if c.status == "timeout")
        assert timeout.latency_ms < 300 + 100  # its declared 0.3 s, honoured
        ticks = len(h.records)
        await h.wait_for(lambda: len(h.records) > ticks + 5, what="more ticks")


async def test_a_plugin_that_dies_mid_call_costs_only_its_say(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("floor", "steady")
        crash = h.start_plugin("crash", "crashy")
        await h.wait_for(lambda: crash.poll() is not None, what="the plugin to die")
        await h.wait_for(lambda: any(c.status == "error" for c in h.calls_of("crashy")), what="a recorded error")
        await h.wait_for(lambda: 3 in decode_targets(h), what="the healthy plugin's proposal")


async def test_a_plugin_unregistering_mid_call_is_heard_out_then_no_longer_called(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("leaving", "leaver")
        await h.wait_for(lambda: any(c.status != "not_due" for c in h.calls_of("leaver"))
                         and h.planner.registry.get("leaver") is None, what="the plugin to leave mid-call")  # fmt: skip
        (call,) = (c for c in h.calls_of("leaver") if c.status != "not_due")
        assert call.status == "ok", call  # its answer, begun before it said goodbye, still counts
        assert 3 in decode_targets(h)
        ticks = len(h.records)
        await h.wait_for(lambda: len(h.records) > ticks + 3, what="more ticks")
        assert [c.status for c in h.calls_of("leaver") if c.status != "not_due"] == ["ok"]


async def test_a_nonsense_answer_is_rejected_and_nothing_unclamped_is_applied(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("negative", "liar")
        await h.wait_for(lambda: any(c.status == "error" for c in h.calls_of("liar")), what="the error")
        error = next(c for c in h.calls_of("liar") if c.status == "error")
        assert "negative" in (error.error or "")
        assert all(n >= 1 for n in decode_targets(h))


async def test_a_plugin_answering_for_another_stage_is_a_protocol_error(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("wrong_stage", "confused")
        await h.wait_for(lambda: any(c.status == "error" for c in h.calls_of("confused")), what="the error")
        error = next(c for c in h.calls_of("confused") if c.status == "error")
        assert "serves no propose service" in (error.error or "")


async def test_a_silent_plugin_is_evicted_within_two_heartbeats_and_may_come_back(tmp_path: Path) -> None:
    async with running_planner(tmp_path, heartbeat_interval_seconds=0.3) as h:
        h.start_plugin("silent", "quiet")
        await h.wait_for(lambda: h.planner.registry.get("quiet") is not None, what="registration")
        registered = anyio.current_time()
        await h.wait_for(lambda: h.planner.registry.get("quiet") is None, within=5, what="eviction")
        assert anyio.current_time() - registered <= 2 * 0.3 + 0.3  # lease of two heartbeats, checked every 1/4
        h.start_plugin("floor", "quiet")  # the same id registers again after eviction
        await h.wait_for(lambda: h.planner.registry.get("quiet") is not None, what="re-registration")


@pytest.mark.parametrize(("token", "reason"), [(None, "unauthenticated"), ("wrong", "unauthenticated")])
async def test_registration_without_the_right_token_is_refused_and_run_exits_2(
    tmp_path: Path, token: str | None, reason: str
) -> None:
    async with running_planner(tmp_path) as h:
        process = h.start_plugin("floor", "intruder", token=token)
        await h.wait_for(lambda: process.poll() is not None, what="the plugin to exit")
        assert process.returncode == 2
        assert process.stderr is not None
        assert f"registration refused: {reason}" in process.stderr.read().decode()
        assert h.planner.registry.get("intruder") is None


async def test_reserved_duplicate_and_old_protocol_registrations_are_refused(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        reserved = h.start_plugin("floor", "builtin_fake")
        h.start_plugin("floor", "taken")
        await h.wait_for(lambda: h.planner.registry.get("taken") is not None, what="the first registration")
        duplicate = h.start_plugin("floor", "taken", token="another-token")  # another identity
        old = h.start_plugin("old_protocol", "ancient")
        for process, reason in ((reserved, "reserved_id"), (duplicate, "duplicate_id")):
            await h.wait_for(lambda p=process: p.poll() is not None, what=f"exit on {reason}")
            assert process.stderr is not None
            assert reason in process.stderr.read().decode()
        assert old.stdout is not None
        with anyio.fail_after(15):  # read in a thread: the planner must keep serving meanwhile
            answer = await anyio.to_thread.run_sync(old.stdout.readline)
        assert "accepted=False reason=protocol_version_unsupported" in answer.decode()


async def test_plugins_come_back_by_themselves_after_the_planner_restarts(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as first:
        process = first.start_plugin("floor", "loyal")
        await first.wait_for(lambda: first.planner.registry.get("loyal") is not None, what="registration")
        first.processes.remove(process)  # keep it running past this planner
    try:
        async with running_planner(tmp_path) as second:
            second.processes.append(process)
            await second.wait_for(lambda: second.planner.registry.get("loyal") is not None, what="re-registration")
            await second.wait_for(lambda: 3 in decode_targets(second), what="its proposal")
    finally:
        if process.poll() is None:
            process.kill()


async def test_sigterm_unregisters_the_plugin(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        process = h.start_plugin("floor", "polite")
        await h.wait_for(lambda: h.planner.registry.get("polite") is not None, what="registration")
        process.send_signal(signal.SIGTERM)
        await h.wait_for(lambda: h.planner.registry.get("polite") is None, within=3, what="unregistration")
        code = await anyio.to_thread.run_sync(lambda: process.wait(timeout=5))
        assert process.stderr is not None
        assert code == 0, process.stderr.read().decode()


async def test_the_circuit_breaker_skips_a_failing_plugin_then_probes_it(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("hang", "flaky")
        await h.wait_for(lambda: any(c.status == "circuit_open" for c in h.calls_of("flaky")), what="the breaker")
        failures_before = sum(c.status == "timeout" for c in h.calls_of("flaky"))
        assert failures_before == 3
        await h.wait_for(
            lambda: sum(c.status == "timeout" for c in h.calls_of("flaky")) > failures_before, within=5, what="a probe"
        )


async def test_heartbeats_from_another_identity_are_denied(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("floor", "owned")
        await h.wait_for(lambda: h.planner.registry.get("owned") is not None, what="registration")
        async with grpc.aio.insecure_channel(h.address) as channel:
            stub = registry_grpc.PluginRegistryStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await stub.Heartbeat(
                    rpb.HeartbeatRequest(plugin_id="owned"), metadata=[("authorization", "Bearer another-token")]
                )
            assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_the_registry_answers_health_checks_and_lists_plugins(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("floor", "listed")
        await h.wait_for(lambda: h.planner.registry.get("listed") is not None, what="registration")
        async with grpc.aio.insecure_channel(h.address) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            listing = await registry_grpc.PluginRegistryStub(channel).ListPlugins(rpb.ListPluginsRequest())
        statuses = {p.declaration.id: p for p in listing.plugins}
        assert statuses["listed"].source == "remote"
        assert statuses["listed"].circuit == "closed"
        assert listing.base_cadence_seconds == pytest.approx(0.1)


async def test_loopback_tcp_works_when_plaintext_is_allowed(tmp_path: Path) -> None:
    async with running_planner(tmp_path, endpoints=["127.0.0.1:0"], allow_insecure=True) as h:
        assert h.address.startswith("127.0.0.1:")
        h.start_plugin("floor", "over_tcp")
        await h.wait_for(lambda: 3 in decode_targets(h), what="the proposal over TCP")


async def test_the_plugins_list_command_shows_registered_plugins(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        h.start_plugin("floor", "shown")
        await h.wait_for(lambda: h.planner.registry.get("shown") is not None, what="registration")
        result = await anyio.run_process(
            [sys.executable, "-m", "planner", "plugins", "list", "--registry", h.address, "--token", TOKEN], check=False
        )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "shown" in out
    assert "propose" in out
    assert "closed" in out
