"""Local filesystem store (the default). Write-once by construction: files are created with
O_EXCL and mode 0440, and a `.retention` sidecar written before the data records when deletion
becomes allowed; `delete` refuses before then. The operating system cannot stop root from
removing files, so use S3 Object Lock or Azure immutability where a WORM guarantee matters."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from django.utils import timezone

from apps.evidence.storage.base import EvidenceStorage, RetentionError, StorageError

MODE = 0o440


class LocalStorage(EvidenceStorage):
    name = "local"

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self.fsync = fsync

    def _path(self, location: str) -> Path:
        path = (self.root / location).resolve()
        if self.root not in path.parents:
            raise StorageError(f"location {location!r} is outside the evidence directory")
        return path

    def _write_once(self, path: Path, data: bytes, *, sync: bool = True) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
        except FileExistsError:
            raise RetentionError(f"{path.name} exists; evidence files are write-once") from None
        try:
            os.write(fd, data)
            if sync and self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, key: str, data: bytes, *, retain_until: datetime, mode: str) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        sidecar = json.dumps({"retain_until": retain_until.isoformat(), "mode": mode})
        # One fsync, of the data file: the sidecar written just before it goes to disk with
        # the same journal commit on the usual Linux filesystems (ext4, xfs).
        try:
            self._write_once(path.with_name(path.name + ".retention"), sidecar.encode(), sync=False)
        except RetentionError:
            if path.exists():
                raise
            # A write interrupted between the sidecar and the data: the retry completes it.
        self._write_once(path, data)
        return key

    def locate(self, key: str) -> str:
        if not self._path(key).is_file():
            raise StorageError(f"no evidence object under {key}")
        return key

    def get(self, location: str) -> bytes:
        try:
            return self._path(location).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"evidence object {location} is missing") from None

    def retained_until(self, location: str) -> datetime | None:
        sidecar = self._path(location).with_name(Path(location).name + ".retention")
        try:
            return datetime.fromisoformat(json.loads(sidecar.read_text())["retain_until"])
        except FileNotFoundError:
            return None

    def delete(self, location: str) -> None:
        until = self.retained_until(location)
        if until is not None and until > timezone.now():
            raise RetentionError(f"{location} is retained until {until.isoformat()}")
        path = self._path(location)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".retention").unlink(missing_ok=True)
