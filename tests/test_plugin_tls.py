"""The planner's calls to plugins: TLS (and mTLS) to plugins on TCP, never plaintext across a network.

The registry listens on a Unix socket; each plugin serves its stage on loopback TCP in this process,
with TLS from `serve(server_tls=...)`. Certificates come from pki_harness (openssl).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from remote_harness import TOKEN, Harness, running_planner

from planner.config import load_config
from planner.errors import ConfigError
from planner_sdk import PluginSpec, ProposePlugin, ProposeResult, Role, ServerTls, Stage, TickContext, serve

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


class Floor(ProposePlugin):
    def __init__(self, plugin_id: str) -> None:
        self.spec = PluginSpec(id=plugin_id, stage=Stage.PROPOSE, execution_interval_seconds=0.1, timeout_seconds=1.0)

    async def propose(self, ctx: TickContext) -> ProposeResult:
        return ProposeResult.at_least({Role.DECODE: 2}, reason="tls floor")


@asynccontextmanager
async def plugin_served(h: Harness, plugin_id: str, server_tls: ServerTls | None) -> AsyncIterator[None]:
    """The plugin on loopback TCP (TLS when given), registered with the harness's planner."""
    async with anyio.create_task_group() as group:
        registered = anyio.Event()
        options: dict[str, Any] = {"token": TOKEN, "listen": "127.0.0.1:0", "server_tls": server_tls}
        group.start_soon(lambda: serve(Floor(plugin_id), h.address, registered=registered, **options))
        with anyio.fail_after(10):
            await registered.wait()
        yield
        group.cancel_scope.cancel()


def statuses(h: Harness, plugin_id: str) -> set[str]:
    return {c.status for c in h.calls_of(plugin_id)}


def plugin_tls(pki: Path, client: bool = False) -> dict[str, Any]:
    tls: dict[str, Any] = {"ca_file": str(pki / "ca.pem")}
    if client:
        tls |= {"cert_file": str(pki / "planner-client.pem"), "key_file": str(pki / "planner-client.key")}
    return tls


async def test_a_plugin_serving_tls_is_called_over_tls_and_its_floor_applied(tmp_path: Path, pki: Path) -> None:
    async with running_planner(tmp_path, plugin_tls=plugin_tls(pki)) as h:
        served = ServerTls(str(pki / "server.pem"), str(pki / "server.key"))
        async with plugin_served(h, "tls_floor", served):
            await h.wait_for(lambda: "ok" in statuses(h, "tls_floor"), what="a call over TLS")
            await h.wait_for(lambda: any(d.targets[Role.DECODE] == 2 for d in h.connector.applied), what="the floor")


async def test_with_mutual_tls_the_plugin_is_called_with_the_planners_certificate(tmp_path: Path, pki: Path) -> None:
    served = ServerTls(str(pki / "server.pem"), str(pki / "server.key"), client_ca_file=str(pki / "ca.pem"))
    async with (
        running_planner(tmp_path, plugin_tls=plugin_tls(pki, client=True)) as h,
        plugin_served(h, "mtls_floor", served),
    ):
        await h.wait_for(lambda: "ok" in statuses(h, "mtls_floor"), what="a call over mTLS")


async def test_a_plugin_asking_for_a_client_certificate_refuses_a_planner_without_one(
    tmp_path: Path, pki: Path
) -> None:
    served = ServerTls(str(pki / "server.pem"), str(pki / "server.key"), client_ca_file=str(pki / "ca.pem"))
    async with running_planner(tmp_path, plugin_tls=plugin_tls(pki)) as h, plugin_served(h, "strict", served):
        await h.wait_for(lambda: "error" in statuses(h, "strict"), what="a refused call")
        ticks = len(h.records)
        await h.wait_for(lambda: len(h.records) > ticks + 3, what="ticks going on")
        assert "ok" not in statuses(h, "strict")
        assert not h.connector.applied  # nothing came of a plugin the planner could not reach


async def test_a_plugin_whose_certificate_the_planner_does_not_trust_has_no_say(tmp_path: Path, pki: Path) -> None:
    rogue = ServerTls(str(pki / "rogue-server.pem"), str(pki / "rogue-server.key"))
    async with running_planner(tmp_path, plugin_tls=plugin_tls(pki)) as h, plugin_served(h, "rogue", rogue):
        await h.wait_for(lambda: "error" in statuses(h, "rogue"), what="a failed handshake")
        assert "ok" not in statuses(h, "rogue")
        error = next(c.error for c in h.calls_of("rogue") if c.status == "error")
        assert "UNAVAILABLE" in (error or "")


async def test_a_plaintext_endpoint_across_the_network_is_refused_at_registration(tmp_path: Path) -> None:
    async with running_planner(tmp_path) as h:
        assert h.planner.remote is not None
        spec = Floor("far_away").spec
        refused = await h.planner.remote.service.admit(spec, "10.1.2.3:5000", "someone", "1.0", "remote")
        assert refused is not None
        assert refused.startswith("insecure_endpoint")
        assert await h.planner.remote.service.admit(spec, "127.0.0.1:5000", "someone", "1.0", "remote") is None


async def test_allow_insecure_admits_a_plaintext_endpoint_across_the_network(tmp_path: Path) -> None:
    async with running_planner(tmp_path, allow_insecure=True) as h:
        assert h.planner.remote is not None
        spec = Floor("far_away").spec
        assert await h.planner.remote.service.admit(spec, "10.1.2.3:5000", "someone", "1.0", "remote") is None


def test_a_static_plugin_across_the_network_needs_plugin_tls() -> None:
    static = (
        "plugin_registration.static_plugins=[{endpoint: 'plugins.example:5000', id: far, stage: propose, "
        "execution_interval_seconds: 10}]"
    )
    with pytest.raises(ConfigError, match=r"static_plugins\[0\]\.endpoint 'plugins.example:5000'"):
        load_config(overrides=[static])


def test_the_planners_client_certificate_needs_its_key() -> None:
    with pytest.raises(ConfigError, match="cert_file and key_file go together"):
        load_config(overrides=["plugin_registration.plugin_tls={ca_file: /ca.pem, cert_file: /c.pem}"])


async def test_an_unreadable_ca_bundle_fails_start_up_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"plugin_registration\.plugin_tls\.ca_file: '/no/such/ca.pem'"):
        async with running_planner(tmp_path, plugin_tls={"ca_file": "/no/such/ca.pem"}):
            pass
