"""Host a plugin over gRPC: serve its stage, register with the planner, heartbeat, unregister."""

from __future__ import annotations

import contextlib
import inspect
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import grpc
import grpc.aio

from . import _wire as wire
from ._errors import PlannerError
from ._grpc import registry_grpc, settled, stages_grpc
from ._plugin import Plugin
from ._proto.planner.v1 import registry_pb2 as rpb
from ._types import Stage

__all__ = ["ClientTls", "ServerTls", "RegistrationRefusedError", "PluginServer", "serve", "run"]

log = logging.getLogger("planner_sdk")


class RegistrationRefusedError(PlannerError):
    """The planner refused the registration; `reason` says why (e.g. `duplicate_id`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"registration refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class ClientTls:
    """TLS towards the planner's registry: its CA, and a client certificate for mTLS."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        return grpc.ssl_channel_credentials(read(self.ca_file), read(self.key_file), read(self.cert_file))


@dataclass(frozen=True)
class ServerTls:
    """TLS for the plugin's own server (the planner's calls): its certificate and key, and with
    `client_ca_file` the CA the planner's client certificate must be signed by (mTLS)."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None

    def credentials(self) -> grpc.ServerCredentials:
        ca = Path(self.client_ca_file).read_bytes() if self.client_ca_file else None
        pair = (Path(self.key_file).read_bytes(), Path(self.cert_file).read_bytes())
        return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


async def _call(plugin: Plugin, name: str, *args: Any) -> Any:
    method = getattr(plugin, name)
    if inspect.iscoroutinefunction(method):
        return await method(*args)
    result = await anyio.to_thread.run_sync(method, *args, abandon_on_cancel=True)
    return await result if inspect.isawaitable(result) else result


@contextlib.contextmanager
def _continued_trace(plugin: Plugin, stage: Stage, tick_id: int, metadata: Any) -> Iterator[None]:
    """Continue the planner's trace: a server span under the planner's call (W3C `traceparent` in
    the metadata), current while the plugin runs, so the plugin's own spans nest inside the tick.
    Spans are recorded by the tracer provider the plugin process sets up (none: no-op)."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {key: value for key, value in metadata or () if isinstance(value, str)}
    parent = TraceContextTextMapPropagator().extract(carrier)
    tracer = trace.get_tracer("planner_sdk")
    attributes = {"plugin.id": plugin.spec.id, "plugin.stage": stage.value, "planner.tick_id": tick_id}
    with tracer.start_as_current_span(
        f"{plugin.spec.id} {stage.value}", context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
    ):
        yield


# stage -> (service and method name, writer of the reply)
_STAGE_RPC: dict[Stage, tuple[str, Callable[[Any], Any]]] = {
    Stage.OBSERVE: ("Observe", wire.observations_to_proto),
    Stage.PREDICT: ("Predict", wire.predict_result_to_proto),
    Stage.PROPOSE: ("Propose", wire.propose_result_to_proto),
    Stage.CLAMP: ("Clamp", wire.propose_result_to_proto),
    Stage.APPLY: ("Apply", wire.ack_to_proto),
}


def _servicer(plugin: Plugin) -> tuple[Any, Callable[[Any, grpc.aio.Server], None]]:
    """A servicer for the plugin's stage and the function that adds it to a server."""
    stage = plugin.spec.stage
    service, write = _STAGE_RPC[stage]

    async def handle(self: Any, request: Any, context: Any) -> Any:
        args: list[Any] = [wire.context_from_proto(request.context)]
        if stage is Stage.APPLY:
            args.append(wire.decision_from_proto(request.decision))
        with _continued_trace(plugin, stage, args[0].tick_id, context.invocation_metadata()):
            try:
                result = await _call(plugin, stage.value, *args)
            except Exception as exc:  # report, never crash the server
                log.exception("plugin %s failed", plugin.spec.id)
                await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        return write(result)

    base = getattr(stages_grpc, f"{service}PluginServicer")
    servicer = type(f"{service}Servicer", (base,), {service: handle})()
    return servicer, getattr(stages_grpc, f"add_{service}PluginServicer_to_server")


class PluginServer:
    """The plugin's own gRPC server (with standard health checking); `endpoint` is what it registers.
    With `tls`, a TCP listener serves TLS (a Unix socket stays local and plaintext)."""

    def __init__(self, plugin: Plugin, listen: str = "127.0.0.1:0", tls: ServerTls | None = None) -> None:
        self.plugin = plugin
        self.listen = listen
        self.tls = tls
        self.endpoint = ""
        self._server: grpc.aio.Server | None = None

    async def start(self) -> str:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc

        server = grpc.aio.server()
        servicer, add = _servicer(self.plugin)
        add(servicer, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        if self.tls is not None and not self.listen.startswith("unix:"):
            port = server.add_secure_port(self.listen, self.tls.credentials())
        else:
            port = server.add_insecure_port(self.listen)
        if self.listen.startswith("unix:"):
            self.endpoint = self.listen
        else:
            self.endpoint = f"{self.listen.rsplit(':', 1)[0]}:{port}"
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        return self.endpoint

    async def stop(self, grace: float = 0.5) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None


_REGISTER_AGAIN = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}


def _metadata(token: str | None, token_file: str | None) -> list[tuple[str, str]]:
    """The bearer token for one call: `token_file`'s first line as it is now (a rotated Secret is
    picked up at the next heartbeat), else `token`."""
    if token_file:
        lines = [line.strip() for line in Path(token_file).read_text(encoding="utf-8").splitlines() if line.strip()]
        token = lines[0] if lines else None
    return [("authorization", f"Bearer {token}")] if token else []


async def serve(
    plugin: Plugin,
    planner: str,
    *,
    token: str | None = None,
    token_file: str | None = None,
    tls: ClientTls | None = None,
    listen: str = "127.0.0.1:0",
    server_tls: ServerTls | None = None,
    plugin_version: str = "0.0.0",
    registered: anyio.Event | None = None,
) -> None:
    """Serve `plugin`, register it with the planner at `planner` (`host:port` or `unix:///path`),
    heartbeat until cancelled, re-register by itself when the planner forgets it (a restart), and
    unregister on the way out. RegistrationRefusedError if the planner says no.

    `token_file` is read at every call to the registry, so a rotated token is used from the next
    heartbeat on (`token` is fixed). `tls` secures the plugin's calls to the registry; `server_tls`
    the planner's calls to the plugin on a TCP `listen` address (the planner then needs
    `plugin_registration.plugin_tls`)."""
    server = PluginServer(plugin, listen, server_tls)
    endpoint = await server.start()
    if tls is not None and not planner.startswith("unix:"):
        channel = grpc.aio.secure_channel(planner, tls.credentials())
    else:
        channel = grpc.aio.insecure_channel(planner)
    registry = registry_grpc.PluginRegistryStub(channel)
    request = rpb.RegisterRequest(
        declaration=wire.declaration_to_proto(plugin.spec), endpoint=endpoint, plugin_version=plugin_version,
        protocol_versions=[wire.PROTOCOL_VERSION],
    )  # fmt: skip

    async def register() -> float:
        """Register, retrying while the planner is unreachable; the heartbeat interval it asks for."""
        backoff = 0.2
        while True:
            try:
                answer = await settled(registry.Register(request, metadata=_metadata(token, token_file), timeout=5.0))
            except grpc.aio.AioRpcError as exc:
                log.warning("planner at %s unreachable (%s); retrying", planner, exc.code().name)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not answer.accepted:
                raise RegistrationRefusedError(answer.reason)
            log.info("plugin %s registered at %s (%s)", plugin.spec.id, planner, endpoint)
            return float(answer.heartbeat_interval_seconds) or 5.0

    try:
        interval = await register()
        if registered is not None:
            registered.set()
        while True:
            await anyio.sleep(interval)
            try:
                beat = await settled(
                    registry.Heartbeat(
                        rpb.HeartbeatRequest(plugin_id=plugin.spec.id),
                        metadata=_metadata(token, token_file),
                        timeout=interval,
                    )
                )
                known = beat.known
            except grpc.aio.AioRpcError as exc:
                # Unreachable, or refused (a rotated token): register again, with the token as it is now.
                known = exc.code() not in _REGISTER_AGAIN
            if not known:
                interval = await register()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            goodbye = rpb.UnregisterRequest(plugin_id=plugin.spec.id)
            with contextlib.suppress(grpc.aio.AioRpcError):  # the planner is gone: nothing to unregister from
                await settled(registry.Unregister(goodbye, metadata=_metadata(token, token_file), timeout=1.0))
            await channel.close(None)
            await server.stop()


def run(plugin: Plugin, planner: str, **kwargs: Any) -> None:
    """`serve` until SIGINT or SIGTERM; exits with status 2 and the reason if registration is refused."""
    refused: list[RegistrationRefusedError] = []

    async def main() -> None:
        async with anyio.create_task_group() as group:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        group.cancel_scope.cancel()
                        return

            group.start_soon(stop_on_signal)
            try:
                await serve(plugin, planner, **kwargs)
            except RegistrationRefusedError as exc:
                refused.append(exc)
            group.cancel_scope.cancel()

    anyio.run(main)
    if refused:
        print(f"{plugin.spec.id}: {refused[0]}", file=sys.stderr)
        raise SystemExit(2)
