"""A real Prometheus server for e2e tests: started on a free loopback port, scraping given targets.

Needs the `prometheus` binary (Debian package `prometheus`; `.ci/run` installs it and sets
PLANNER_REQUIRE_PROMETHEUS=1 so that CI fails rather than skips when it is missing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

PROMETHEUS = shutil.which("prometheus")


def require_prometheus() -> None:
    """Skip the calling test module without the binary, unless CI demands it."""
    if PROMETHEUS is None and os.environ.get("PLANNER_REQUIRE_PROMETHEUS") != "1":
        pytest.skip("the prometheus binary is not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def prometheus(tmp_path: Path, target_port: int, scrape_interval: str = "1s") -> Iterator[str]:
    """A Prometheus scraping 127.0.0.1:`target_port`; yields its base URL and stops it after."""
    assert PROMETHEUS is not None, "PLANNER_REQUIRE_PROMETHEUS=1 but prometheus is not on PATH"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {scrape_interval}, evaluation_interval: {scrape_interval}}}\n"
        "scrape_configs:\n"
        f"  - job_name: frontend\n    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def query_until(client: httpx.AsyncClient, base_url: str, promql: str, deadline_s: float) -> float:
    """Poll an instant query until it returns a sample (Prometheus needs a scrape or two)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            answer = (await client.get(f"{base_url}/api/v1/query", params={"query": promql})).json()
            if answer.get("status") == "success" and answer["data"]["result"]:
                return float(answer["data"]["result"][0]["value"][1])
        except (httpx.TransportError, ValueError):
            pass  # not listening yet, or still starting ("Service Unavailable", not JSON)
        if time.monotonic() > end:
            raise AssertionError(f"no answer to {promql!r} within {deadline_s} s")
        await anyio.sleep(0.25)
