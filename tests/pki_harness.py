"""The `pki` fixture: certificates made for each test run with the `openssl` command line: a CA, a server certificate
for loopback (IP 127.0.0.1, localhost), client certificates, and a second CA nobody trusts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _authority(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"),
            "-out", str(d / f"{name}.pem"), "-days", "1", "-subj", f"/CN=test-{name}")  # fmt: skip


def _issue(d: Path, name: str, authority: str, san: bool) -> None:
    key, csr = str(d / f"{name}.key"), str(d / f"{name}.csr")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    extra = ["-extfile", str(d / "san.ext")] if san else []
    openssl("x509", "-req", "-in", csr, "-CA", str(d / f"{authority}.pem"), "-CAkey", str(d / f"{authority}.key"),
            "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", "1", *extra)  # fmt: skip


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """ca.pem signs server (loopback SAN), plugin-a and planner-client; rogue-ca.pem signs rogue-server."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    d = tmp_path / "pki"
    d.mkdir()
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _authority(d, "ca")
    _authority(d, "rogue-ca")
    _issue(d, "server", "ca", san=True)
    _issue(d, "plugin-a", "ca", san=False)
    _issue(d, "planner-client", "ca", san=False)
    _issue(d, "rogue-server", "rogue-ca", san=True)
    return d
