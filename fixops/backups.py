"""Encrypted backups that restore (docs/operations.md, "Backups").

A backup is one file: a plain header (format, time, database, the fingerprints of the keys a
restore needs, the data key wrapped by the platform keyring) followed by AES-256-GCM frames
of at most 1 MiB. The plaintext is the evidence manifest (every bundle's id, decision, digest
and store location) and the table counts, then `pg_dump -Fc`, taken in the same snapshot as
the counts. The dump is streamed from pg_dump through the cipher to disk, so a multi-GB
database never sits in memory.

Each frame's nonce is a random 4-byte prefix and the frame's number; its associated data
binds the header's digest, the frame's type and its number, so frames cannot be reordered,
dropped, moved between backups or truncated (the last frame is an authenticated "end"). The
data key exists in clear only in this process: the file carries it encrypted by the first key
of FIXOPS_ENCRYPTION_KEYS, so a restore needs that keyring.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import sql

from apps.evidence.models import EvidenceBundle
from apps.evidence.registry import keyring as evidence_keyring
from fixops.platform import keyring

MAGIC = b"FIXOPS-BACKUP\n"
VERSION = 1
CHUNK = 1 << 20
MANIFEST, DUMP, END = b"M", b"D", b"E"
_FRAME = struct.Struct(">cQI")  # type, number, ciphertext length


class BackupError(Exception):
    """A backup that cannot be written or read, with what to do about it."""


@dataclass
class Backup:
    path: Path
    header: dict
    manifest: dict = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0


def database_url(url: str = "") -> str:
    """A libpq URL of `url`, or of the configured database."""
    if url:
        return url
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise BackupError("backups need PostgreSQL (the embedded SQLite is for evaluation)")
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgresql://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def key_fingerprint(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:16]


class _Sealer:
    def __init__(self, out: BinaryIO, key: bytes, header_digest: bytes) -> None:
        self.out, self.aead, self.digest = out, AESGCM(key), header_digest
        self.prefix, self.number, self.written = os.urandom(4), 0, 0

    def frame(self, kind: bytes, plaintext: bytes) -> None:
        nonce = self.prefix + struct.pack(">Q", self.number)
        sealed = self.aead.encrypt(nonce, plaintext, _aad(self.digest, kind, self.number))
        self.out.write(_FRAME.pack(kind, self.number, len(sealed)) + self.prefix + sealed)
        self.written += _FRAME.size + 4 + len(sealed)
        self.number += 1


def _aad(digest: bytes, kind: bytes, number: int) -> bytes:
    return digest + kind + struct.pack(">Q", number)


def _counts_and_snapshot(url: str) -> tuple[psycopg.Connection, str, dict[str, int]]:
    """A repeatable-read transaction held open, its exported snapshot (pg_dump dumps exactly
    it) and every table's row count in it."""
    conn = psycopg.connect(url, autocommit=False)
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
    return conn, snapshot, _table_counts(conn)


def _table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    count = sql.SQL("SELECT count(*) FROM {}")
    return {t: conn.execute(count.format(sql.Identifier(t))).fetchone()[0] for (t,) in tables}


def _manifest_lines() -> Iterator[bytes]:
    rows = EvidenceBundle.objects.order_by("id").values_list(
        "id",
        "tenant_id",
        "decision_id",
        "envelope_digest",
        "keyid",
        "backend",
        "location",
        "status",
    )
    for row in rows.iterator(chunk_size=2000):
        keys = (
            "id",
            "tenant",
            "decision",
            "envelope_digest",
            "keyid",
            "backend",
            "location",
            "status",
        )
        yield json.dumps(dict(zip(keys, row, strict=True))).encode() + b"\n"


def backup_create(path: Path, *, url: str = "") -> Backup:
    """Write an encrypted backup of the database and the evidence manifest to `path`
    (through a temporary file beside it, renamed when complete)."""
    if not shutil.which("pg_dump"):
        raise BackupError("pg_dump is not installed (Debian: postgresql-client)")
    url = database_url(url)
    started = time.perf_counter()
    data_key = AESGCM.generate_key(bit_length=256)
    header = {
        "format": "fixops-backup",
        "version": VERSION,
        "created_at": timezone.now().isoformat(),
        "database": connection.settings_dict.get("NAME", ""),
        "wrapped_key": keyring.encrypt(data_key).decode(),
        "keys": {
            "platform": [key_fingerprint(k) for k in settings.FIXOPS_ENCRYPTION_KEYS],
            "evidence_signing": sorted(evidence_keyring()),
        },
        "cipher": "AES-256-GCM, 1 MiB frames",
    }
    header_bytes = json.dumps(header, sort_keys=True).encode()
    digest = hashlib.sha256(header_bytes).digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    snapshot_conn, snapshot, counts = _counts_and_snapshot(url)
    try:
        with partial.open("wb") as out:
            out.write(MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes)
            sealer = _Sealer(out, data_key, digest)
            summary = {"tables": counts, "bundles": EvidenceBundle.objects.count()}
            sealer.frame(MANIFEST, json.dumps(summary).encode() + b"\n")
            buffer = b""
            for line in _manifest_lines():
                buffer += line
                if len(buffer) >= CHUNK:
                    sealer.frame(MANIFEST, buffer)
                    buffer = b""
            if buffer:
                sealer.frame(MANIFEST, buffer)
            _dump_into(sealer, url, snapshot)
            sealer.frame(END, b"")
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        snapshot_conn.close()
    partial.replace(path)
    return Backup(
        path=path,
        header=header,
        manifest=summary,
        bytes_written=path.stat().st_size,
        seconds=time.perf_counter() - started,
    )


def _dump_into(sealer: _Sealer, url: str, snapshot: str) -> None:
    command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
               f"--snapshot={snapshot}", f"--dbname={url}"]  # fmt: skip
    with tempfile.TemporaryFile() as errors:
        # a fixed argv, no shell: the URL is one argument
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as dump:  # noqa: S603
            while chunk := dump.stdout.read(CHUNK):
                sealer.frame(DUMP, chunk)
        if dump.returncode:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[-2000:]
            raise BackupError(f"pg_dump failed ({dump.returncode}): {message}")


def backup_header(path: Path) -> tuple[dict, bytes, int]:
    """The plain header of a backup file, its digest and where the frames start."""
    with path.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise BackupError(f"{path} is not a FixOps backup")
        (size,) = struct.unpack(">I", f.read(4))
        if size > 1 << 20:
            raise BackupError(f"{path}: malformed header")
        raw = f.read(size)
    header = json.loads(raw)
    if header.get("version") != VERSION:
        raise BackupError(f"{path}: backup format version {header.get('version')} is not {VERSION}")
    return header, hashlib.sha256(raw).digest(), len(MAGIC) + 4 + size


def _frames(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(type, plaintext) of each frame, authenticated; raises BackupError on any tampering,
    reordering or truncation (a backup must end with its authenticated end frame)."""
    header, digest, offset = backup_header(path)
    try:
        data_key = keyring.decrypt(header["wrapped_key"].encode())
    except InvalidToken:
        needed = ", ".join(header["keys"]["platform"][:1])
        raise BackupError(
            "FIXOPS_ENCRYPTION_KEYS cannot open this backup: it needs the key with "
            f"fingerprint {needed} (`manage.py restore --fingerprints` lists this keyring's)"
        ) from None
    aead, expected = AESGCM(data_key), 0
    with path.open("rb") as f:
        f.seek(offset)
        while True:
            head = f.read(_FRAME.size + 4)
            if len(head) < _FRAME.size + 4:
                raise BackupError(f"{path} is truncated: it ends before its end frame")
            kind, number, size = _FRAME.unpack(head[: _FRAME.size])
            if number != expected or size > CHUNK + 64:
                raise BackupError(f"{path}: frame {expected} is missing or out of order")
            sealed = f.read(size)
            nonce = head[_FRAME.size :] + struct.pack(">Q", number)
            try:
                plaintext = aead.decrypt(nonce, sealed, _aad(digest, kind, number))
            except InvalidTag:
                raise BackupError(
                    f"{path}: frame {number} fails authentication (altered)"
                ) from None
            expected += 1
            yield kind, plaintext
            if kind == END:
                return


@dataclass
class Restored:
    summary: dict
    bundles: list[dict]
    seconds: float


def backup_restore(path: Path, *, url: str = "") -> Restored:
    """Restore the database of a backup into `url` (an empty database) in one transaction:
    a backup that fails authentication half-way, or pg_restore's first error, leaves nothing."""
    if not shutil.which("pg_restore"):
        raise BackupError("pg_restore is not installed (Debian: postgresql-client)")
    url = database_url(url)
    with psycopg.connect(url) as target:
        tables = target.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0]
    if tables:
        raise BackupError(
            f"the target database already has {tables} tables: restore into an empty database "
            "(createdb), then point DATABASE_URL at it"
        )
    started = time.perf_counter()
    manifest = b""
    command = ["pg_restore", "--no-owner", "--no-privileges", "--single-transaction",
               "--exit-on-error", f"--dbname={url}"]  # fmt: skip
    with tempfile.TemporaryFile() as errors:
        restore = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=errors)  # noqa: S603
        try:
            for kind, plaintext in _frames(path):
                if kind == DUMP:
                    restore.stdin.write(plaintext)
                elif kind == MANIFEST:
                    manifest += plaintext
        except BrokenPipeError:
            pass  # pg_restore stopped reading: its status and message below say why
        except BaseException:
            restore.kill()  # its single transaction rolls back: nothing of a bad backup stays
            restore.wait()
            raise
        with contextlib.suppress(BrokenPipeError):
            restore.stdin.close()
        if restore.wait():
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[-2000:]
            raise BackupError(f"pg_restore failed ({restore.returncode}): {message}")
    lines = manifest.splitlines()
    summary = json.loads(lines[0]) if lines else {}
    bundles = [json.loads(line) for line in lines[1:]]
    return Restored(summary=summary, bundles=bundles, seconds=time.perf_counter() - started)


def restored_counts(url: str) -> dict[str, int]:
    """Every table's row count in the database at `url`."""
    with psycopg.connect(url) as conn:
        return _table_counts(conn)


def keyring_fingerprints() -> list[str]:
    return [key_fingerprint(k) for k in settings.FIXOPS_ENCRYPTION_KEYS]


def backups_prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `directory`; returns the deleted."""
    found = sorted(directory.glob("fixops-*.backup"), key=lambda p: p.name, reverse=True)
    for old in found[keep:]:
        old.unlink(missing_ok=True)
    return found[keep:]


def backup_scheduled() -> Backup:
    """The beat task's backup: FIXOPS_BACKUP_DIR/fixops-<UTC time>.backup, then retention."""
    directory = Path(settings.FIXOPS_BACKUP_DIR)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    made = backup_create(directory / f"fixops-{stamp}.backup")
    backups_prune(directory, settings.FIXOPS_BACKUP_KEEP)
    return made
