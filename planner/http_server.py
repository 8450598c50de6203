"""A minimal HTTP/1.1 GET server on the event loop, for /metrics, /healthz and /readyz."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import anyio
import anyio.abc

__all__ = ["Route", "serve_routes", "prometheus_route"]

log = logging.getLogger(__name__)

Route = Callable[[], tuple[int, bytes, bytes]]
"""Answers a GET with (status code, content type, body)."""

_MAX_REQUEST_BYTES = 8192
_EXPOSITION = b"text/plain; version=0.0.4; charset=utf-8"


def prometheus_route(render: Callable[[], bytes]) -> Route:
    """A `/metrics` answer: whatever `render()` gives, as the Prometheus text format."""

    def metrics() -> tuple[int, bytes, bytes]:
        return 200, _EXPOSITION, render()

    return metrics


_REASONS = {200: b"OK", 404: b"Not Found", 503: b"Service Unavailable"}


async def serve_routes(
    routes: Mapping[str, Route],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve GET on `routes` (path -> answer); runs on the event loop, so answers never race it.

    Reports the bound port through `task_status`.
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    log.info("serving %s on http://%s:%d", ", ".join(routes), host, bound)
    task_status.started(bound)

    async def answer(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = b""
            try:
                while b"\r\n\r\n" not in request and len(request) < _MAX_REQUEST_BYTES:
                    request += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            parts = request.split(b"\r\n", 1)[0].split()
            route = routes.get(parts[1].split(b"?")[0].decode("latin-1")) if len(parts) >= 2 else None
            if parts[:1] == [b"GET"] and route is not None:
                code, kind, body = route()
            else:
                code, kind, body = 404, b"text/plain", f"only GET {', '.join(routes)}\n".encode()
            head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            try:
                await stream.send(head % (code, _REASONS.get(code, b"Status"), kind, len(body)) + body)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    await listener.serve(answer)
