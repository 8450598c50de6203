"""Shared fixtures: the asyncio backend for anyio tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytest_plugins = ["kube_fixtures"]  # the `kube` fixture: a Kubernetes API stand-in and a kubeconfig for it
