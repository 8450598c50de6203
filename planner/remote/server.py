"""The registry's gRPC server: TCP and/or Unix sockets, TLS/mTLS, health checking and reflection."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from planner_sdk import PluginSpec
from planner_sdk._grpc import registry_grpc as rgrpc
from planner_sdk._proto.planner.v1 import registry_pb2 as rpb

from ..config import PluginTlsConfig, StaticPluginConfig
from ..errors import ConfigError
from .auth import Authenticator, TokenSource
from .service import STATIC, RegistryService

if TYPE_CHECKING:
    from ..daemon import Planner

__all__ = ["RegistryServer"]

log = logging.getLogger("planner.remote")


def _read(path: str, what: str, section: str = "tls") -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            [f"plugin_registration.{section}.{what}: {path!r} cannot be read ({exc.strerror or exc})"]
        ) from None


def _plugin_credentials(tls: PluginTlsConfig | None) -> grpc.ChannelCredentials | None:
    """The planner's TLS towards plugins, read once at start-up (a bad path fails it, named)."""
    if tls is None:
        return None
    key = _read(tls.key_file, "key_file", "plugin_tls") if tls.key_file else None
    cert = _read(tls.cert_file, "cert_file", "plugin_tls") if tls.cert_file else None
    return grpc.ssl_channel_credentials(_read(tls.ca_file, "ca_file", "plugin_tls"), key, cert)


class RegistryServer:
    """Serves PluginRegistry on every configured endpoint for as long as the planner runs."""

    def __init__(self, planner: Planner) -> None:
        settings = planner.config.plugin_registration
        self.settings = settings
        tls = settings.tls
        auth = Authenticator(TokenSource(settings), bool(tls and tls.client_ca_file), settings.allow_insecure)
        self.service = RegistryService(planner, auth, _plugin_credentials(settings.plugin_tls))
        self.addresses: list[str] = []
        self._server: grpc.aio.Server | None = None

    async def start(self) -> list[str]:
        settings = self.settings
        options = [
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
        ]
        server = grpc.aio.server(options=options)
        rgrpc.add_PluginRegistryServicer_to_server(self.service, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names = (
            rpb.DESCRIPTOR.services_by_name["PluginRegistry"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        credentials = None
        if settings.tls is not None:
            credentials = grpc.ssl_server_credentials(
                [(_read(settings.tls.key_file, "key_file"), _read(settings.tls.cert_file, "cert_file"))],
                root_certificates=_read(settings.tls.client_ca_file, "client_ca_file")
                if settings.tls.client_ca_file
                else None,
                require_client_auth=bool(settings.tls.client_ca_file),
            )
        for endpoint in settings.endpoints:
            if endpoint.startswith("unix:") or credentials is None:
                if not endpoint.startswith("unix:"):
                    log.warning("plugin registry on %s is plaintext TCP (allow_insecure is set)", endpoint)
                port = server.add_insecure_port(endpoint)
            else:
                port = server.add_secure_port(endpoint, credentials)
            if port == 0 and not endpoint.startswith("unix:"):
                raise ConfigError([f"plugin_registration.endpoints: cannot listen on {endpoint!r}"])
            host = endpoint.rsplit(":", 1)[0]
            self.addresses.append(endpoint if endpoint.startswith("unix:") else f"{host}:{port}")
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        await health_servicer.set(names[0], health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        log.info("plugin registry listening on %s", ", ".join(self.addresses))
        return self.addresses

    async def register_static(self, plugins: list[StaticPluginConfig]) -> None:
        """Static plugins from the config join through the same admission as remote ones."""
        for index, item in enumerate(plugins):
            spec = PluginSpec(
                id=item.id, stage=item.stage, execution_interval_seconds=item.execution_interval_seconds,  # type: ignore[arg-type]
                priority=item.priority, hold=item.hold, needs=frozenset(item.needs), requires=frozenset(item.requires),  # type: ignore[arg-type]
                timeout_seconds=item.timeout_seconds, on_error=item.on_error,  # type: ignore[arg-type]
            )  # fmt: skip
            refused = await self.service.admit(spec, item.endpoint, "static", "", STATIC)
            if refused is not None:
                raise ConfigError([f"plugin_registration.static_plugins[{index}] ({item.id}): {refused}"])

    async def stop(self, grace_seconds: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace_seconds)
            self._server = None
