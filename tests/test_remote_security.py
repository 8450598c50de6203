"""Registry security and limits: mTLS identities, static plugins, plugin count and rate limits.

Certificates are made for each run with the `openssl` command line (pki_harness); plugins are served in-process
here (their own gRPC servers on Unix sockets), the registry over real TLS on loopback TCP.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import grpc
import grpc.aio
import pytest
from remote_harness import TOKEN, running_planner

from planner_sdk import (
    ClientTls,
    PluginServer,
    PluginSpec,
    ProposePlugin,
    ProposeResult,
    Role,
    Stage,
    TickContext,
    serve,
)
from planner_sdk import _wire as wire
from planner_sdk._grpc import registry_grpc
from planner_sdk._proto.planner.v1 import registry_pb2 as rpb

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


class Floor(ProposePlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = PluginSpec(id=plugin_id, stage=Stage.PROPOSE, execution_interval_seconds=0.1)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.at_least({Role.DECODE: 2})


async def test_mtls_admits_a_plugin_by_its_client_certificate(tmp_path: Path, pki: Path) -> None:
    tls = {
        "cert_file": str(pki / "server.pem"),
        "key_file": str(pki / "server.key"),
        "client_ca_file": str(pki / "ca.pem"),
    }
    async with running_planner(tmp_path, endpoints=["127.0.0.1:0"], tls=tls, token_env=None) as h:
        client = ClientTls(str(pki / "ca.pem"), str(pki / "plugin-a.pem"), str(pki / "plugin-a.key"))
        async with anyio.create_task_group() as group:
            registered = anyio.Event()
            group.start_soon(
                lambda: serve(
                    Floor("by_cert"), h.address, tls=client, registered=registered, listen=f"unix://{tmp_path}/p.sock"
                )
            )
            with anyio.fail_after(10):
                await registered.wait()
            entry = h.planner.registry.get("by_cert")
            assert entry is not None
            assert entry.identity == "cert:plugin-a"
            group.cancel_scope.cancel()


async def test_mtls_refuses_a_client_without_a_certificate(tmp_path: Path, pki: Path) -> None:
    tls = {
        "cert_file": str(pki / "server.pem"),
        "key_file": str(pki / "server.key"),
        "client_ca_file": str(pki / "ca.pem"),
    }
    async with running_planner(tmp_path, endpoints=["127.0.0.1:0"], tls=tls, token_env=None) as h:
        credentials = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes())
        async with grpc.aio.secure_channel(h.address, credentials) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await registry_grpc.PluginRegistryStub(channel).ListPlugins(rpb.ListPluginsRequest(), timeout=5)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_static_plugins_are_registered_at_start_up(tmp_path: Path) -> None:
    server = PluginServer(Floor("static_floor"), f"unix://{tmp_path}/static.sock")
    endpoint = await server.start()
    try:
        static = [{"endpoint": endpoint, "id": "static_floor", "stage": "propose", "execution_interval_seconds": 0.1}]
        async with running_planner(tmp_path, static_plugins=static) as h:
            entry = h.planner.registry.get("static_floor")
            assert entry is not None
            assert entry.source == "static"
            await h.wait_for(lambda: any(d.targets[Role.DECODE] == 2 for d in h.connector.applied), what="its floor")
            await anyio.sleep(3 * 0.3)  # static plugins hold no lease: never evicted
            assert h.planner.registry.get("static_floor") is not None
    finally:
        await server.stop()


async def register(address: str, plugin_id: str, endpoint: str) -> rpb.RegisterResponse:
    request = rpb.RegisterRequest(
        declaration=wire.declaration_to_proto(Floor(plugin_id).spec), endpoint=endpoint, protocol_versions=["v1"]
    )
    async with grpc.aio.insecure_channel(address) as channel:
        return await registry_grpc.PluginRegistryStub(channel).Register(
            request, metadata=[("authorization", f"Bearer {TOKEN}")], timeout=5
        )  # type: ignore[no-any-return]


async def test_the_number_of_remote_plugins_is_capped(tmp_path: Path) -> None:
    async with running_planner(tmp_path, max_plugins=2) as h:
        answers = [await register(h.address, f"p{i}", "127.0.0.1:1") for i in range(3)]
    assert [a.accepted for a in answers] == [True, True, False]
    assert answers[2].reason == "too_many_plugins"


async def test_registrations_are_rate_limited(tmp_path: Path) -> None:
    async with running_planner(tmp_path, registrations_per_minute=2) as h:
        answers = [await register(h.address, f"r{i}", "127.0.0.1:1") for i in range(3)]
    assert answers[2].reason == "rate_limited"


async def test_an_endpoint_that_is_no_address_is_an_invalid_declaration(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        answer = await register(h.address, "nowhere", "not an address")
    assert answer.reason == "invalid_declaration: endpoint"
