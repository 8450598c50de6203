"""Who is calling the registry: a bearer token (constant-time compare) and/or a TLS client certificate."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from ..config import PluginRegistrationConfig
from ..errors import ConfigError

__all__ = ["Authenticator", "load_tokens"]


def load_tokens(settings: PluginRegistrationConfig) -> list[str]:
    """Tokens from `token_file` (one per line, `#` comments) and `token_env` (comma-separated)."""
    tokens: list[str] = []
    if settings.token_file:
        try:
            lines = Path(settings.token_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(
                [f"plugin_registration.token_file: {settings.token_file!r} cannot be read ({exc})"]
            ) from None
        tokens += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if settings.token_env:
        raw = os.environ.get(settings.token_env)
        if raw is None:
            raise ConfigError([f"plugin_registration.token_env: variable {settings.token_env!r} is not set"])
        tokens += [t.strip() for t in raw.split(",") if t.strip()]
    if (settings.token_file or settings.token_env) and not tokens:
        raise ConfigError(["plugin_registration: the configured token source holds no tokens"])
    return tokens


class Authenticator:
    """Maps a call's credentials to a stable identity, or None when they are missing or wrong."""

    def __init__(self, tokens: list[str], require_client_cert: bool, allow_insecure: bool) -> None:
        self._tokens = [t.encode() for t in tokens]
        self.require_client_cert = require_client_cert
        self.allow_insecure = allow_insecure

    def identify(self, context: Any) -> str | None:
        identities = []
        if self._tokens:
            token = self._bearer(context)
            if token is None or not self._known(token):
                return None
            identities.append("token:" + hashlib.sha256(token).hexdigest()[:16])
        if self.require_client_cert:
            subject = self._certificate_subject(context)
            if subject is None:
                return None
            identities.append("cert:" + subject)
        if not identities:
            if not self.allow_insecure:
                return None
            identities.append("insecure:" + str(context.peer()))
        return "+".join(identities)

    def _known(self, token: bytes) -> bool:
        # Compare against every token, always, so timing says nothing about which one nearly matched.
        found = False
        for candidate in self._tokens:
            found |= hmac.compare_digest(candidate, token)
        return found

    @staticmethod
    def _bearer(context: Any) -> bytes | None:
        for key, value in context.invocation_metadata() or ():
            if key.lower() == "authorization":
                text = value.decode() if isinstance(value, bytes) else str(value)
                scheme, _, token = text.partition(" ")
                if scheme.lower() == "bearer" and token:
                    return token.strip().encode()
        return None

    @staticmethod
    def _certificate_subject(context: Any) -> str | None:
        auth = context.auth_context() or {}
        for key in ("x509_common_name", "x509_subject"):
            values = auth.get(key)
            if values:
                value = values[0]
                return value.decode() if isinstance(value, bytes) else str(value)
        return None
