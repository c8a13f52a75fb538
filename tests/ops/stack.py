"""A private PostgreSQL and Redis for the chaos and replica tests: each on a free loopback port,
in a temporary directory, started and stopped by the test itself (the machine's PostgreSQL on
5432 and Redis on 6379 are never touched: every stop names this test's data directory or PID).

PostgreSQL is Debian's 15 (`/usr/lib/postgresql/15/bin`, or `FIXOPS_PG_BIN`). initdb refuses
to run as root, so as root every PostgreSQL command runs as the `postgres` user through
`runuser` (the data directory is chowned to it); as any other user they run as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PG_BIN = Path(os.environ.get("FIXOPS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def fixops_env(var: Path, **overrides: str) -> dict[str, str]:
    """The environment of a FixOps process on a private stack: production's settings module
    and connection handling (CONN_MAX_AGE 60 with health checks, not the test settings'
    CONN_MAX_AGE=0), DEBUG off, fresh keys, state under `var`, loopback fakes allowed."""
    signing_key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    return {
        "DJANGO_SETTINGS_MODULE": "fixops.settings.base",
        "FIXOPS_ENV": "development",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "FIXOPS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "FIXOPS_EVIDENCE_SIGNING_KEY": signing_key,
        "FIXOPS_VAR_DIR": str(var),
        "FIXOPS_UPLOAD_DIR": str(var / "uploads"),
        "FIXOPS_EVIDENCE_DIR": str(var / "evidence"),
        "FIXOPS_OUTBOUND_ALLOWLIST": "127.0.0.1/32",
        "LOG_LEVEL": "INFO",
        **overrides,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def available() -> str:
    """Empty when the binaries are here, else why not."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN} (set FIXOPS_PG_BIN)"
    if not shutil.which("redis-server"):
        return "no redis-server on PATH"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user for initdb"
    return ""


class Postgres:
    """One cluster in its own directory. `restart()` is an immediate shutdown (every backend
    killed, no checkpoint: what a crash leaves; WAL replay on start) and a start."""

    def __init__(self, root: Path, *, port: int | None = None, name: str = "primary") -> None:
        """`root` must be traversable by the postgres user (mode 0755 or so)."""
        # A directory of its own, chowned to the postgres user (tmp_path is root's, 0700).
        self.dir = Path(tempfile.mkdtemp(prefix=f"pg-{name}-", dir=root))
        self.data = self.dir / "data"
        self.port = port or free_port()
        self.log = self.dir / "postgres.log"
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run(
            _as_pg_user([str(PG_BIN / argv[0]), *argv[1:]]),
            check=False,
            timeout=timeout,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")

    def init(self) -> Postgres:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            "-c fsync=off -c max_connections=60 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop("immediate")
        self.start()

    def connect(self, database: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url(database), connect_timeout=5, **kwargs)

    def createdb(self, name: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def basebackup_replica(self, root: Path, *, name: str = "replica") -> Postgres:
        """A streaming replica of this cluster (pg_basebackup -R: standby.signal and
        primary_conninfo written for it), not yet started. `--checkpoint=fast`: the backup
        starts with an immediate checkpoint; the default spread one paces its writes over
        checkpoint_timeout and took ~90 s here after `createdb` (a few MB of dirty buffers)."""
        replica = Postgres(root, name=name)
        self._run(
            "pg_basebackup", "-D", str(replica.data), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", "-X", "stream", "-R", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        return replica

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """redis-server with no persistence: a restart loses every queued message, the worst case
    of a broker restart (with AOF on, fewer are lost; recovery must not depend on it)."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="redis-", dir=root))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.dir)]  # fmt: skip
        log = (self.dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not answer")

    def kill(self) -> None:
        """SIGKILL this test's redis-server (by its PID): queued messages are gone."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
