"""Real S3 and Azure Blob test servers on 127.0.0.1, each on a free port, for the evidence
storage tests: moto in server mode (the `moto[server]` package in the venv) and Azurite (npm,
pinned in tests/fakes/azurite/package.json; `.ci/run` runs `npm ci` there).

What they enforce (checked by tests/evidence/test_storage.py):
- moto 5.2: Object Lock retention on DeleteObject of a locked version (AccessDenied in
  COMPLIANCE mode, and in GOVERNANCE mode without the bypass header) and If-None-Match: * on
  PutObject. It does NOT refuse shortening a COMPLIANCE retention (real S3 does).
- Azurite 3.35: If-None-Match: * on upload (no overwrite). It accepts but ignores immutability
  policies (set_immutability_policy answers "not implemented") and deletes immutable blobs, so
  on Azurite the refusal to delete comes from FixOps' own check of the blob's retention
  metadata; the server-side policy is only exercised on real Azure.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = ROOT / "tests" / "fakes" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret: it is in Azure's documentation).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(port: int, process: subprocess.Popen, name: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {seconds} s")


class Server:
    def __init__(self, name: str, command: list[str], port: int, workdir: str | None = None):
        self.name, self.port, self.workdir = name, port, workdir
        self.process = subprocess.Popen(  # noqa: S603 - fixed test-server commands
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait(port, self.process, name)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_moto() -> tuple[Server, str]:
    """moto_server on a free port; returns (server, endpoint URL)."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    server = Server("moto", [str(moto), "-H", "127.0.0.1", "-p", str(port)], port)
    return server, f"http://127.0.0.1:{port}"


def start_azurite() -> tuple[Server, str]:
    """Azurite's blob service on a free port; returns (server, connection string)."""
    if not AZURITE_BIN.exists():
        raise RuntimeError(
            f"Azurite is not installed at {AZURITE_BIN.parent.parent}; run `npm ci` in "
            "tests/fakes/azurite (.ci/run does)"
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="azurite-")
    command = [
        str(AZURITE_BIN),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        workdir,
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]
    server = Server("azurite", command, port, workdir)
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    return server, connection
