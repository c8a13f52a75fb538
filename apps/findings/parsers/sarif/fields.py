"""Typed reads of SARIF JSON values: a field of its SARIF type, or a ParseError at its pointer.

A JSON type error in a field the parser reads (a result, location or message that is not an
object, a uri that is not a string, ...) fails the whole file with a ParseError naming the
pointer; a field that is merely absent or null reads as None.
"""

from __future__ import annotations

from typing import Any

from .._common import type_name
from ..base import ParseError

FORMAT = "sarif"


def get_field(obj: dict[str, Any], key: str, kind: type, where: str, inner: str = "") -> Any:
    """obj[key] if it has the SARIF type (None when absent or null), else a ParseError at
    `where` + `inner` + "/key" (the pointer is only formatted for the error)."""
    value = obj.get(key)
    if value is None or value.__class__ is kind:  # the exact type ijson builds: no isinstance
        return value
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = {dict: "an object", list: "an array", str: "a string", int: "an integer"}[kind]
    raise ParseError(
        FORMAT,
        f"{key} must be {expected}, got {type_name(value)}",
        pointer=f"{where}{inner}/{key}",
    )


def message_text(obj: Any, key: str) -> str:
    """obj[key]["text"] when it is a string (multiformatMessageString), else ""."""
    inner = obj.get(key) if isinstance(obj, dict) else None
    text = inner.get("text") if isinstance(inner, dict) else None
    return text if isinstance(text, str) else ""


def first_line(text: str) -> str:
    """The first non-blank line of `text`, stripped."""
    return text.strip().split("\n", 1)[0].strip()
