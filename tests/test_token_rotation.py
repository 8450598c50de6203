"""Registry tokens rotate without a restart: the token file is re-read when it changes, a token
rotated out is refused from the next call on, and a plugin reading its token from a file follows."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from remote_harness import running_planner

from planner.config import PluginRegistrationConfig
from planner.remote import TokenSource

OLD, NEW = "token-before-rotation", "token-after-rotation"


def rotate(path: Path, text: str) -> None:
    """Write the file as a Secret update would, and make sure its timestamp moves."""
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(stamp + 1_000_000, stamp + 1_000_000))


def source(path: Path, **settings: object) -> TokenSource:
    return TokenSource(PluginRegistrationConfig(token_file=str(path), **settings))  # type: ignore[arg-type]


def test_a_changed_token_file_is_read_again(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(OLD + "\n")
    accepted = source(tokens)
    assert accepted.current() == [OLD.encode()]
    rotate(tokens, NEW + "\n")
    assert accepted.current() == [NEW.encode()]


def test_a_token_file_that_cannot_be_read_mid_rotation_keeps_the_last_good_tokens(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(OLD + "\n")
    accepted = source(tokens)
    tokens.unlink()
    tokens.mkdir()  # there, but not a file to read
    assert accepted.current() == [OLD.encode()]


def test_an_emptied_token_file_accepts_no_one(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(OLD + "\n")
    accepted = source(tokens, allow_insecure=True)
    rotate(tokens, "# every token revoked\n")
    assert accepted.current() == []
    assert accepted.configured  # so the registry refuses everyone rather than falling back to insecure


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_rotation_keeps_a_plugin_that_follows_it_and_refuses_one_that_does_not(tmp_path: Path) -> None:
    planner_tokens, plugin_tokens = tmp_path / "planner-tokens", tmp_path / "plugin-token"
    planner_tokens.write_text(OLD + "\n")
    plugin_tokens.write_text(OLD + "\n")
    async with running_planner(tmp_path, token_env=None, token_file=str(planner_tokens)) as h:
        h.start_plugin("floor", "follows", token_file=plugin_tokens)
        stale = h.start_plugin("floor", "stale", token=OLD)
        await h.wait_for(lambda: {"follows", "stale"} <= {e.id for e in h.planner.registry}, what="registration")
        rotate(planner_tokens, NEW + "\n")
        rotate(plugin_tokens, NEW + "\n")
        new_identity = "token:" + hashlib.sha256(NEW.encode()).hexdigest()[:16]

        def follows_under_new_token() -> bool:
            entry = h.planner.registry.get("follows")
            return entry is not None and entry.identity == new_identity

        await h.wait_for(follows_under_new_token, what="the plugin re-keyed to the new token")
        await h.wait_for(lambda: stale.poll() is not None, what="the stale plugin refused")
        assert stale.returncode == 2
        assert stale.stderr is not None
        assert "unauthenticated" in stale.stderr.read().decode()
        calls = len([c for c in h.calls_of("follows") if c.status == "ok"])
        await h.wait_for(lambda: len([c for c in h.calls_of("follows") if c.status == "ok"]) > calls + 3,
                         what="calls going on under the new token")  # fmt: skip
