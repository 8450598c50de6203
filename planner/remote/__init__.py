"""Remote plugins: the registry server, authentication, liveness and the gRPC transport."""

from __future__ import annotations

from .auth import Authenticator, TokenSource, load_tokens
from .server import RegistryServer
from .service import RegistryService
from .transport import RemoteTransport

__all__ = ["Authenticator", "RegistryServer", "RegistryService", "RemoteTransport", "TokenSource", "load_tokens"]
