"""Parser registry: every module in this package that defines a `Parser` subclass registers it.

Adding a format means adding one module here; nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

import ijson

from ._common import json_head
from ._paths import path_context
from .base import NO_PATHS, ParseError, Parser, PathContext, TooDeep, input_limits, max_depth

try:  # the C backend; ijson falls back to pure Python without it
    _ijson = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    _ijson = ijson

HEAD_BYTES = 64 * 1024
_XML_ROOT = re.compile(rb"<(?![?!])([^\s>/]+)")
_SHOWN_KEYS = 6
_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))


class UnknownFormat(ParseError):
    """No registered parser claims the content; `candidates` says why each one declined."""

    def __init__(self, message: str, candidates: list[dict[str, str]]) -> None:
        super().__init__("unknown", message)
        self.candidates = candidates


def _all_subclasses(cls: type[Parser]) -> list[type[Parser]]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


@cache
def registry() -> dict[str, type[Parser]]:
    """All registered parsers by format key (modules are imported on first use)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return {cls.format: cls for cls in _all_subclasses(Parser) if getattr(cls, "format", None)}


def get_parser(fmt: str, *, paths: PathContext = NO_PATHS) -> Parser:
    """The parser for an explicit format override; ParseError naming the known ones if unknown.

    `paths` is how absolute paths in the report resolve (see parsers/_paths.py)."""
    try:
        return registry()[fmt](paths=paths)
    except KeyError:
        known = ", ".join(sorted(registry()))
        raise ParseError(fmt, f"unknown format; known formats: {known}") from None


def detect_parser(head: bytes, *, paths: PathContext = NO_PATHS) -> Parser:
    """Detect the format from content (never from a file name)."""
    candidates = [cls for cls in registry().values() if cls.detect(head)]
    if not candidates:
        raise UnknownFormat(
            "could not detect the report format from its content; pass `format` explicitly "
            f"(one of: {', '.join(sorted(registry()))})",
            detection_candidates(head),
        )
    return max(candidates, key=lambda cls: cls.priority)(paths=paths)


def detection_candidates(head: bytes) -> list[dict[str, str]]:
    """For each registered format, why its detector declined these head bytes (or that it
    matched), from what the head shows: its top-level shape and first keys or root element."""
    seen = _observe(head)
    out = []
    for fmt, cls in sorted(registry().items()):
        reason = "matched" if cls.detect(head) else _reason(cls, seen)
        out.append({"format": fmt, "reason": reason})
    return out


def _observe(head: bytes) -> tuple[str, str]:
    """(shape, detail): shape is empty, object, array, lines, xml, text or binary; detail names
    the first top-level keys of an object or the root element of XML."""
    start = json_head(head)
    if not start.strip():
        return "empty", ""
    if start.startswith(b"<"):
        root = _XML_ROOT.search(start)
        return "xml", root.group(1).decode("utf-8", "replace")[:80] if root else ""
    if start.startswith(b"["):
        return "array", ""
    if start.startswith(b"{"):
        keys = _top_keys(start)
        first_line = start.split(b"\n", 1)
        lines = len(first_line) > 1 and first_line[1].lstrip().startswith(b"{")
        return ("lines" if lines and _one_object(first_line[0]) else "object"), ", ".join(keys)
    if b"\x00" in start[:1024]:
        return "binary", ""
    return "text", ""


def _top_keys(head: bytes) -> list[str]:
    """The first top-level keys of a JSON object, read until the head ends or breaks.

    `basic_parse`, not `parse`: ijson's prefixes grow with the square of the nesting depth,
    and the head is untrusted; nesting past the limit ends the reading."""
    keys: list[str] = []
    depth = 0
    limit = max_depth()
    try:
        for event, value in _ijson.basic_parse(head):
            if event in _STARTS:
                depth += 1
                if depth > limit:
                    break
            elif event in _ENDS:
                depth -= 1
            elif event == "map_key" and depth == 1:
                key = f"`{str(value)[:40]}`"
                if key not in keys:
                    keys.append(key)
                    if len(keys) >= _SHOWN_KEYS:
                        break
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError):
        pass
    return keys


def _one_object(line: bytes) -> bool:
    """True when a line holds one complete JSON value (JSON lines), not the start of one."""
    depth = 0
    limit = max_depth()
    try:
        for event, _ in _ijson.basic_parse(line):
            if event in _STARTS:
                depth += 1
                if depth > limit:
                    return False
            elif event in _ENDS:
                depth -= 1
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError):
        return False
    return True


_SHAPES = {
    "empty": "empty input",
    "object": "a JSON object",
    "array": "a JSON array",
    "lines": "JSON lines",
    "xml": "XML",
    "text": "text that is neither JSON nor XML",
    "binary": "binary data",
}


def _reason(cls: type[Parser], seen: tuple[str, str]) -> str:
    shape, detail = seen
    expects = cls.expects or "its markers"
    wanted = {
        "object-or-array": ("object", "array", "lines"),
        "object": ("object", "lines"),
        "lines": ("object", "lines"),
    }
    accepted = wanted.get(cls.shape, (cls.shape,))
    if shape not in accepted:
        if cls.shape == "xml":
            return f"not XML ({_SHAPES[shape]})"
        if cls.shape == "text":
            return f"not {expects} ({_SHAPES[shape]})"
        if shape in ("xml", "text", "binary", "empty"):
            return f"not JSON ({_SHAPES[shape]})"
        return f"{_SHAPES[shape]}, expected {_SHAPES.get(cls.shape, 'a JSON object or array')}"
    if shape == "xml":
        return f"XML root <{detail}>, expected {expects}"
    keys = f" (keys {detail})" if detail else ""
    return f"{_SHAPES[shape]}{keys} without {expects}"


__all__ = [
    "HEAD_BYTES",
    "NO_PATHS",
    "ParseError",
    "Parser",
    "PathContext",
    "TooDeep",
    "UnknownFormat",
    "detect_parser",
    "detection_candidates",
    "get_parser",
    "input_limits",
    "path_context",
    "registry",
]
