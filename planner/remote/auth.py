"""Who is calling the registry: a bearer token (constant-time compare) and/or a TLS client certificate."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import Any

from ..config import PluginRegistrationConfig
from ..errors import ConfigError

__all__ = ["Authenticator", "TokenSource", "load_tokens"]

log = logging.getLogger("planner.remote")


def _file_tokens(path: str) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)  # follows a mounted Secret's symlinks to the current file
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _env_tokens(settings: PluginRegistrationConfig) -> list[str]:
    if not settings.token_env:
        return []
    raw = os.environ.get(settings.token_env)
    if raw is None:
        raise ConfigError([f"plugin_registration.token_env: variable {settings.token_env!r} is not set"])
    return [t.strip() for t in raw.split(",") if t.strip()]


def load_tokens(settings: PluginRegistrationConfig) -> list[str]:
    """Tokens from `token_file` (one per line, `#` comments) and `token_env` (comma-separated)."""
    return [t.decode() for t in TokenSource(settings).current()]


class TokenSource:
    """The tokens the registry accepts now. `token_file` is re-read whenever it changes (a rotated
    Secret), so a token rotated out is refused from the next call on, with no restart; a file that
    cannot be read mid-rotation keeps the last good set until it can. `token_env` is fixed at start.
    At start-up an unreadable file, a missing variable or no token at all is a ConfigError."""

    def __init__(self, settings: PluginRegistrationConfig) -> None:
        self.path = settings.token_file
        self.configured = bool(settings.token_file or settings.token_env)
        self._stamp = _stamp(self.path) if self.path else None
        try:
            self._file = [t.encode() for t in _file_tokens(self.path)] if self.path else []
        except OSError as exc:
            raise ConfigError([f"plugin_registration.token_file: {self.path!r} cannot be read ({exc})"]) from None
        self._env = [t.encode() for t in _env_tokens(settings)]
        if self.configured and not (self._file or self._env):
            raise ConfigError(["plugin_registration: the configured token source holds no tokens"])

    def current(self) -> list[bytes]:
        if self.path is not None:
            stamp = _stamp(self.path)
            if stamp is not None and stamp != self._stamp:
                try:
                    tokens = [t.encode() for t in _file_tokens(self.path)]
                except OSError as exc:
                    log.warning("token file %s changed but cannot be read (%s): keeping the previous tokens",
                                self.path, exc)  # fmt: skip
                else:
                    self._stamp, self._file = stamp, tokens
                    log.info("token file %s changed: %d token(s) from it accepted now", self.path, len(tokens))
        return self._file + self._env


class Authenticator:
    """Maps a call's credentials to a stable identity, or None when they are missing or wrong."""

    def __init__(self, tokens: TokenSource, require_client_cert: bool, allow_insecure: bool) -> None:
        self.tokens = tokens
        self.require_client_cert = require_client_cert
        self.allow_insecure = allow_insecure

    def identify(self, context: Any) -> str | None:
        identities = []
        tokens = self.tokens.current()
        if self.tokens.configured:  # an emptied token file refuses everyone, never admits all
            token = self._bearer(context)
            if token is None or not self._known(token, tokens):
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

    def still_valid(self, identity: str) -> bool:
        """Whether an identity would still be admitted: False once its token was rotated out (a
        certificate subject or a plaintext peer cannot be checked later, so they stay valid)."""
        for part in identity.split("+"):
            if part.startswith("token:"):
                digest = part.removeprefix("token:")
                return any(hashlib.sha256(t).hexdigest()[:16] == digest for t in self.tokens.current())
        return True

    def _known(self, token: bytes, tokens: list[bytes]) -> bool:
        # Compare against every token, always, so timing says nothing about which one nearly matched.
        found = False
        for candidate in tokens:
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
