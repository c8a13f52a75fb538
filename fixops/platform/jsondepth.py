"""How deep a JSON document nests, read without recursion and without building it.

Every reader of untrusted JSON refuses nesting past FIXOPS_MAX_INPUT_DEPTH: Python's `json`
recurses once per level (a RecursionError past ~1,000, whatever the memory), and ijson's
prefixed events grow with the square of the depth. This reads ijson's `basic_parse` events
(C, no prefixes, one container at a time) and stops at the first container past the limit.
"""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO

import ijson
from django.conf import settings

try:  # the C backend; ijson falls back to pure Python without it
    _ijson = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    _ijson = ijson

_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))


def deep_pointer(stream: BinaryIO, limit: int, *, multiple_values: bool = False) -> str | None:
    """The RFC 6901 pointer of the first container opened more than `limit` levels deep, or
    None. Malformed JSON ends the reading quietly: the real parser reports it, with context."""
    path: list[list[Any]] = []  # [is_array, key or index] per open container
    try:
        events = _ijson.basic_parse(stream, use_float=True, multiple_values=multiple_values)
        for event, value in events:
            if event == "map_key":
                path[-1][1] = value
                continue
            if event in _ENDS:
                path.pop()
                continue
            if path and path[-1][0]:
                path[-1][1] += 1
            if event in _STARTS:
                if len(path) >= limit:
                    return _pointer(path)
                path.append([event == "start_array", -1])
    except (ijson.JSONError, UnicodeDecodeError, ValueError):
        return None
    return None


class TooDeepJSON(ValueError):  # noqa: N818 - reads as what it is
    """A JSON document nested past the limit. A ValueError, so every caller's "not JSON"
    path takes it instead of a RecursionError escaping as a 500."""

    def __init__(self, pointer: str, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels at {pointer or '/'}")
        self.pointer, self.limit = pointer, limit


def loads(data: bytes | str, *, limit: int | None = None) -> Any:
    """json.loads for JSON from outside (vendor and IdP answers, feeds, admin text fields):
    nesting past `limit` (default FIXOPS_MAX_INPUT_DEPTH) raises TooDeepJSON."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    limit = settings.FIXOPS_MAX_INPUT_DEPTH if limit is None else limit
    where = deep_pointer(io.BytesIO(raw), limit)
    if where is not None:
        raise TooDeepJSON(where, limit)
    return json.loads(raw)


def _pointer(path: list[list[Any]]) -> str:
    return "".join("/" + str(segment).replace("~", "~0").replace("/", "~1") for _, segment in path)
