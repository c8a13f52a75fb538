"""Streaming JSON helpers shared by the SBOM and scanner parsers (ijson; yajl2_c when present).

Reports can hold tens of thousands of components and vulnerabilities, so no parser loads a
whole document. `walk` reads the ijson event stream once and yields only the values the
caller asked for, each built completely (a component, a vulnerability) with its JSON pointer;
everything else is skipped by counting nesting depth, which costs little per event.

Bounded by construction: the reader is ijson's `basic_parse` (no prefixes) and the walk
keeps its own prefixes, only for the containers it descends into. ijson's `parse` builds
every event's dotted prefix, for a whole 64 KiB buffer of events before the first is
handed over, so memory grew with the square of the nesting depth (a 200 KB document nested
100,000 deep took ~21 GB). Every container opened counts towards `max_depth()`; one level
deeper is a `TooDeep` error naming the value holding the nesting.

Parsers that need data from several places (components before vulnerabilities, whichever
order the file uses) read the stream more than once: `Rewindable` guarantees it can seek back,
spooling a non-seekable stream to a temporary file first. `iter_array` is the fast path for
the one big top-level list of a report, once a `walk` has validated the document.
"""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import ijson
from ijson.common import ObjectBuilder

from fixops.platform.jsondepth import deep_pointer

from .base import ParseError, TooDeep, max_depth

_START = frozenset({"start_map", "start_array"})
_END = frozenset({"end_map", "end_array"})
_DEPTH = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}
# UnicodeDecodeError: overlong or out-of-range UTF-8 that yajl lets through to ijson.
_JSON_ERRORS = (ijson.JSONError, UnicodeDecodeError)
_SPOOL_IN_MEMORY = 16 * 1024 * 1024
try:  # the C backend; ijson falls back to pure Python without it
    _ijson = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    _ijson = ijson
_COPY_CHUNK = 1024 * 1024


class Rewindable:
    """A seekable binary stream plus the offset where the JSON document starts.

    The offset skips a UTF-8 byte order mark, which the JSON parser would reject.
    """

    def __init__(self, stream: BinaryIO) -> None:
        if not _seekable(stream):
            stream = _spool(stream)
        self.stream = stream
        start = stream.tell()
        if stream.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
            start += len(codecs.BOM_UTF8)
        self.start = start

    def rewind(self) -> BinaryIO:
        """The stream, positioned at the start of the document."""
        self.stream.seek(self.start)
        return self.stream


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError):
        return False


def _spool(stream: BinaryIO) -> BinaryIO:
    """Copy a non-seekable stream to a temporary file so it can be read twice."""
    # no context manager: the spool outlives this call, the parser reads it twice
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    while chunk := stream.read(_COPY_CHUNK):
        spool.write(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def escape_token(token: str) -> str:
    """RFC 6901 escaping of one pointer segment."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*segments: object) -> str:
    """Build a JSON pointer from raw segments: pointer("components", 3) == "/components/3"."""
    return "".join("/" + escape_token(str(segment)) for segment in segments)


def _ancestors(prefixes: Iterable[str]) -> frozenset[str]:
    out = {""}
    for prefix in prefixes:
        parts = prefix.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(out)


def _pointer_of(frames: list[list[Any]]) -> str:
    return "".join("/" + escape_token(str(frame[1])) for frame in frames)


def _json_error_message(exc: Exception) -> str:
    """First line of an ijson error: later lines quote report text, which may be secret."""
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8 text"
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    first = str(text).strip().splitlines()
    return first[0] if first else "malformed JSON"


_SKIP, _BUILD, _SCALAR, _NOTHING = range(4)
_OPENS = frozenset((_SKIP, _BUILD))  # actions that open a container the walk does not track


class _Cursor:
    """Where the walk is, outside wanted values, and what to do with the next event.

    Each open container the walk descends into is a frame [is_array, key or index, prefix
    of its children + "."]: the dotted ijson-style prefix of a value is its parent's plus
    the key (or "item" in an array), built only for the values met at those levels.
    """

    def __init__(
        self, fmt: str, items: Iterable[str], arrays: Iterable[str], seen: set[str] | None
    ) -> None:
        self.fmt = fmt
        self.wanted = frozenset(items)
        self.arrays = frozenset(arrays)
        self.descend = _ancestors(self.wanted | self.arrays) | self.arrays
        self.seen = seen
        self.frames: list[list[Any]] = []

    def step(self, event: str, value: Any) -> tuple[int, str]:
        """(action, prefix of the value this event starts; "" for other events)."""
        frames = self.frames
        if event == "map_key":
            frames[-1][1] = value
            return _NOTHING, ""
        if event in _END:
            frames.pop()
            return _NOTHING, ""
        if not frames:
            if event != "start_map":
                raise ParseError(self.fmt, "the top-level JSON value must be an object")
            prefix = ""
        else:
            top = frames[-1]
            if top[0]:
                top[1] += 1
                prefix = top[2] + "item"
            else:
                prefix = top[2] + top[1]
        if prefix in self.arrays:
            self._check_array(prefix, event)
        if prefix in self.wanted:
            return (_BUILD if event in _START else _SCALAR), prefix
        if event not in _START:
            return _NOTHING, prefix
        if prefix in self.descend:
            frames.append([event == "start_array", -1, prefix + "." if prefix else ""])
            return _NOTHING, prefix
        return _SKIP, prefix

    def _check_array(self, prefix: str, event: str) -> None:
        if event not in ("start_array", "null"):
            name = prefix.rsplit(".", 1)[-1]
            raise ParseError(self.fmt, f"`{name}` must be an array", pointer=self.pointer())
        if self.seen is not None:
            self.seen.add(prefix)

    def pointer(self) -> str:
        return _pointer_of(self.frames)

    def too_deep(self, limit: int, *, opened: bool) -> TooDeep:
        """TooDeep at the value at hand; `opened`: it is the last frame (one just descended)."""
        frames = self.frames[:-1] if opened else self.frames
        return TooDeep(self.fmt, limit, pointer=_pointer_of(frames))

    def error(self, exc: Exception, building: str | None, skipping: int) -> ParseError:
        """A syntax error: at the value being built or skipped, else at the next value."""
        where = building
        if where is None:
            frames = self.frames
            if not skipping and frames and frames[-1][0]:
                where = _pointer_of(frames[:-1]) + "/" + str(frames[-1][1] + 1)
            else:
                where = _pointer_of(frames)
        message = f"invalid or truncated JSON: {_json_error_message(exc)}"
        return ParseError(self.fmt, message, pointer=where)


def walk(
    stream: BinaryIO,
    fmt: str,
    items: Iterable[str],
    arrays: Iterable[str] = (),
    *,
    seen: set[str] | None = None,
) -> Iterator[tuple[str, str, Any]]:
    """Yield (ijson prefix, JSON pointer, value) for each complete value at a wanted prefix.

    `items` are ijson prefixes ("components.item", "bomFormat"); `arrays` are prefixes whose
    value must be a JSON array (or null, which Go-based tools emit for empty lists), and each
    one met is added to `seen`. The whole document is always read, so syntax errors anywhere
    surface as ParseError.
    """
    cursor = _Cursor(fmt, items, arrays, seen)
    limit = max_depth()
    frames = cursor.frames
    builder: ObjectBuilder | None = None
    depth = skipping = room = 0
    built_prefix = built_pointer = ""
    try:
        for event, value in _ijson.basic_parse(stream, use_float=True):
            if skipping:  # most events of a big report: keep this path short
                skipping += _DEPTH.get(event, 0)
                if skipping > room:
                    raise TooDeep(fmt, limit, pointer=cursor.pointer())
                continue
            if builder is not None:
                builder.event(event, value)
                depth += _DEPTH.get(event, 0)
                if depth > room:
                    raise TooDeep(fmt, limit, pointer=built_pointer)
                if depth == 0:
                    yield built_prefix, built_pointer, builder.value
                    builder = None
                continue
            action, prefix = cursor.step(event, value)
            room = limit - len(frames)  # containers the value at hand may still open
            if room < (action in _OPENS):
                raise cursor.too_deep(limit, opened=action == _NOTHING)
            if action == _SKIP:
                skipping = 1
            elif action == _BUILD:
                builder, depth = ObjectBuilder(), 1
                builder.event(event, value)
                built_prefix, built_pointer = prefix, cursor.pointer()
            elif action == _SCALAR:
                yield prefix, cursor.pointer(), value
    except _JSON_ERRORS as exc:
        building = built_pointer if builder is not None else None
        raise cursor.error(exc, building, skipping) from None
    if builder is not None or cursor.frames:
        raise ParseError(fmt, "invalid or truncated JSON: premature end of input")


def check_depth(stream: BinaryIO, fmt: str) -> None:
    """Read a whole JSON document (or JSON lines) once, refusing nesting deeper than the
    limit, before a reader that builds prefixes (ijson `items`) or recurses (`json`) sees it.
    Syntax errors are left to that reader, which knows where it is."""
    limit = max_depth()
    where = deep_pointer(stream, limit, multiple_values=True)
    if where is not None:
        raise TooDeep(fmt, limit, pointer=where)


def iter_array(stream: BinaryIO, fmt: str, name: str) -> Iterator[tuple[str, Any]]:
    """(pointer, item) for each item of the top-level array `name`, built inside ijson.

    With the yajl2_c backend the items are built in C, several times faster than `walk`; the
    caller has already checked in an earlier `walk` that the document is valid and that `name`
    holds an array.
    """
    index = -1
    try:
        for index, item in enumerate(ijson.items(stream, f"{name}.item", use_float=True)):
            yield f"/{escape_token(name)}/{index}", item
    except _JSON_ERRORS as exc:
        where = f"/{escape_token(name)}/{index + 1}"
        raise ParseError(
            fmt, f"invalid or truncated JSON: {_json_error_message(exc)}", pointer=where
        ) from None


def index_in(pointer_text: str, position: int) -> int:
    """The array index at a segment of a pointer: index_in("/Results/3/Secrets/0", 1) == 3."""
    return int(pointer_text.split("/")[position + 1])
