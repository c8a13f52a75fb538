"""The one interface every evidence store implements. Objects are write-once: `put` never
replaces an existing object, and `delete` fails while the object's retention lasts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import ClassVar


class StorageError(Exception):
    """The store failed (unreachable, misconfigured, object missing)."""


class RetentionError(StorageError):
    """The object is retained (or already exists): it cannot be deleted or overwritten."""


class EvidenceStorage(ABC):
    name: ClassVar[str]

    @abstractmethod
    def put(self, key: str, data: bytes, *, retain_until: datetime, mode: str) -> str:
        """Store `data` once under `key`, immutable until `retain_until`; return its location.
        RetentionError if `key` already exists."""

    @abstractmethod
    def locate(self, key: str) -> str:
        """The location of the object already stored under `key` (StorageError if none): how a
        retried write finds what an interrupted one stored."""

    @abstractmethod
    def get(self, location: str) -> bytes:
        """The bytes at `location` (StorageError if missing)."""

    @abstractmethod
    def retained_until(self, location: str) -> datetime | None:
        """When the object's retention ends (None: not retained)."""

    @abstractmethod
    def delete(self, location: str) -> None:
        """Remove the object; RetentionError while it is retained."""
