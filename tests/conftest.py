"""Shared fixtures: the asyncio backend for anyio tests; gRPC's stale-loop callbacks kept out of later tests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anyio._backends import _asyncio as anyio_asyncio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# `kube`: a Kubernetes API stand-in and a kubeconfig for it; `pki`: certificates made with openssl.
pytest_plugins = ["kube_fixtures", "pki_harness"]


def _is_stale_grpc_completion(exc: BaseException | None) -> bool:
    """gRPC's shared poller delivering a completion for an object of a loop that has closed.

    Each test runs on a new event loop. gRPC aio binds one process-wide poller to every loop it has
    seen; a completion still in flight when a test's loop closes (a call cancelled at shutdown, a
    server stopping) is dispatched later from the *next* loop to the closed one, which raises
    "Event loop is closed" inside `PollerCompletionQueue._handle_events`. No object of the earlier
    test is alive by then (checked); the error says nothing about the test that happens to be
    running, and one daemon process never has more than one loop.
    """
    if not isinstance(exc, RuntimeError) or str(exc) != "Event loop is closed":
        return False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name.endswith("_handle_events") and "completion_queue" in code.co_filename:
            return True
        tb = tb.tb_next
    return False


_anyio_handler = anyio_asyncio.TestRunner._exception_handler


def _exception_handler(self: Any, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if _is_stale_grpc_completion(context.get("exception")):
        return
    _anyio_handler(self, loop, context)


anyio_asyncio.TestRunner._exception_handler = _exception_handler  # type: ignore[method-assign]
