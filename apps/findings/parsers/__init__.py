"""Parser registry: every module in this package that defines a `Parser` subclass registers it.

Adding a format means adding one module here; nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from ._paths import path_context
from .base import NO_PATHS, ParseError, Parser, PathContext

HEAD_BYTES = 64 * 1024


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
        raise ParseError(
            "unknown",
            "could not detect the report format from its content; pass `format` explicitly "
            f"(one of: {', '.join(sorted(registry()))})",
        )
    return max(candidates, key=lambda cls: cls.priority)(paths=paths)


__all__ = [
    "HEAD_BYTES",
    "NO_PATHS",
    "ParseError",
    "Parser",
    "PathContext",
    "detect_parser",
    "get_parser",
    "path_context",
    "registry",
]
