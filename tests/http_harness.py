"""A threaded HTTP server on a loopback port for stand-ins of other services' APIs."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def serve_handler(
    handler: type[http.server.BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve `handler` until the block ends; yields its base URL. A slow answer never holds up the stop.

    `host` may be any loopback address (127.0.0.2, ...), to stand in for several machines on one port.
    """
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads, server.block_on_close = True, False
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
