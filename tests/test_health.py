"""/healthz and /readyz over real HTTP: liveness is a loop that answers, readiness says what is missing."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import httpx
import pytest

from helpers import Propose, config, memory, set_targets
from planner import Planner, VirtualClock
from planner.health import health_routes
from planner.http_server import serve_routes
from planner_sdk import ReplicaCount, Role

pytestmark = pytest.mark.anyio


class Unreachable:
    """A deployment whose API does not answer."""

    async def current_replicas(self) -> Mapping[Role, ReplicaCount]:
        raise ConnectionError("API server at 10.0.0.1:443 refused the connection")

    async def apply(self, decision: object) -> None:
        raise AssertionError("never reached")

    async def wait_ready(self, deadline: float) -> bool:
        return False

    async def aclose(self) -> None:
        return None


async def probe(planner: Planner, path: str) -> httpx.Response:
    async with anyio.create_task_group() as group:
        port = await group.start(serve_routes, health_routes(planner), "127.0.0.1", 0)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}{path}")
        group.cancel_scope.cancel()
    return response


async def test_liveness_answers_whenever_the_loop_does() -> None:
    clock = VirtualClock()
    planner = Planner(config(), clock=clock, connector=memory(clock), discover=False)
    assert (await probe(planner, "/healthz")).text == "ok\n"


async def test_readiness_waits_for_start_up() -> None:
    clock = VirtualClock()
    planner = Planner(config(), clock=clock, connector=memory(clock), discover=False)
    before = await probe(planner, "/readyz")
    async with planner:
        during = await probe(planner, "/readyz")
    after = await probe(planner, "/readyz")
    assert (before.status_code, before.text) == (503, "not ready: not started\n")
    assert (during.status_code, during.text) == (200, "ready\n")
    assert after.status_code == 503


async def test_readiness_fails_while_the_deployment_is_unreachable() -> None:
    clock = VirtualClock()
    plugin = Propose("p", set_targets(2, 2))
    async with Planner(config(), clock=clock, connector=Unreachable(), plugins=[plugin], discover=False) as planner:
        async with clock.autojump():
            await planner.run(max_ticks=1)
        response = await probe(planner, "/readyz")
    assert response.status_code == 503
    assert "deployment unreachable: API server at 10.0.0.1:443 refused" in response.text
