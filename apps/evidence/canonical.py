"""Canonical JSON (RFC 8785, JCS) wherever bytes are hashed, so any verifier re-computes the same
digest from the same document."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_bytes(document: Any) -> bytes:
    """The RFC 8785 serialisation of `document` (sorted keys, no whitespace, ES6 numbers)."""
    return rfc8785.dumps(document)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(document: Any) -> str:
    """sha256 hex of the canonical serialisation of `document`."""
    return sha256_hex(canonical_bytes(document))
