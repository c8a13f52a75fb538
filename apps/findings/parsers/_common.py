"""Helpers shared by the SARIF, checkov and gitleaks parsers.

- `JsonEvents`: a pull reader over ijson's (C) event stream, so a parser walks the document
  it expects, builds only the values it needs and skips the rest. Every low-level failure
  becomes a `ParseError` naming where the reader was, and never echoes input text (yajl's
  messages quote the bytes around the error, which in a secret scanner's report may be the
  secret).
- `iter_items`: values at an ijson prefix, each built by ijson's C builder (the fast path for
  many small results). `JsonReader` strips a UTF-8 BOM and can peek the top-level type.
- `rewindable`: a seekable stream for two-pass parsing (non-seekable input is spooled).
- `primed`: runs a findings generator to its first item, so early errors surface in parse().
- `clean_path` and friends (from `_paths`): the one rule for turning a reported path into a
  relative POSIX path.
- `pointer`: RFC 6901 JSON pointers for error messages and `NormalizedFinding.pointer`.
- `slots_builder`: a fast constructor for a frozen slotted dataclass (NormalizedFinding) in
  a parser's per-result loop.
- small value helpers: line-number guards, text capping, secret hashing and redaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import operator
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TypeVar

import ijson

from ._paths import (  # noqa: F401 - re-exported: parsers import path helpers from here
    as_root,
    clean_path,
    is_absolute,
    original_of,
    strip_file_scheme,
)
from .base import ParseError, TooDeep, max_depth

try:  # the C backend is several times faster; ijson falls back to pure Python without it
    _ijson = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    _ijson = ijson

# yajl's errors, and the UTF-8 decoding errors ijson raises for overlong or out-of-range
# sequences yajl lets through (a lone surrogate never gets here: TextGuard rewrote it).
JSON_ERRORS = (ijson.JSONError, UnicodeDecodeError)
MAX_LINE = 10**9  # larger line/column numbers are treated as absent
MAX_TEXT = 64 * 1024  # message/description cap (characters)
MAX_SNIPPET = 16 * 1024
MAX_TITLE = 500
SPOOL_IN_MEMORY = 8 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))
T = TypeVar("T")
_SCALAR_TYPES = {
    "string": "a string",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
    "start_map": "an object",
    "start_array": "an array",
}


def pointer(*parts: str | int) -> str:
    """Build a JSON pointer from path segments, escaping `~` and `/` as RFC 6901 requires."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def slots_builder(cls: type[T], names: Sequence[str]) -> Callable[..., T]:
    """`build(*values)`: an instance of the frozen, slotted dataclass `cls` with the fields
    `names` set to `values` (in that order) and every other field to its default.

    Why: a frozen dataclass's generated `__init__` assigns each field through
    `object.__setattr__`; for NormalizedFinding's 27 fields that costs several microseconds, a
    large share of a parser's time per result. Storing through the slot descriptors (all in C,
    via `map`) makes an equal object in about half the time. A class with `__post_init__`
    (validation that this would skip) or a required field missing from `names` is refused.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [name for name in names if name not in fields]
    if unknown or len(set(names)) != len(names) or hasattr(cls, "__post_init__"):
        raise TypeError(f"cannot build {cls.__name__} from {list(names)}")
    constants = {}
    factories = []
    for name, spec in fields.items():
        if name in names:
            continue
        if spec.default is not dataclasses.MISSING:
            constants[name] = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            factories.append((name, spec.default_factory))
        else:
            raise TypeError(f"{cls.__name__}.{name} is required")
    slots = [cls.__dict__[name].__set__ for name in (*names, *constants)]
    defaults = tuple(constants.values())
    count = len(names)
    new, call, repeat = object.__new__, operator.call, itertools.repeat
    consume = deque(maxlen=0).extend

    def build(*values: Any) -> T:
        if len(values) != count:
            raise TypeError(f"{cls.__name__} needs {count} values, got {len(values)}")
        obj = new(cls)
        consume(map(call, slots, repeat(obj), values + defaults))
        for name, factory in factories:
            object.__setattr__(obj, name, factory())
        return obj

    return build


def type_name(value: Any) -> str:
    """Name a decoded JSON value's type the way error messages say it ("an object", ...)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def event_type_name(event: str) -> str:
    """Name the type of the value an ijson event starts ("an array", "a number", ...)."""
    return _SCALAR_TYPES.get(event, event)


class JsonReader:
    """A binary stream as ijson should see it: without a leading UTF-8 byte order mark (yajl
    rejects it), and with `first_byte()` to learn the top-level type before parsing."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buffer = b""
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._started = True
            head = self._stream.read(len(_BOM)) or b""
            self._buffer = head[len(_BOM) :] if head.startswith(_BOM) else head

    def first_byte(self) -> bytes:
        """The first non-whitespace byte (b"" for empty input); leading whitespace is dropped."""
        self._start()
        while True:
            self._buffer = self._buffer.lstrip(b" \t\r\n")
            if self._buffer:
                return self._buffer[:1]
            chunk = self._stream.read(4096)
            if not chunk:
                return b""
            self._buffer = chunk

    def read(self, size: int = -1) -> bytes:
        """File-like read: buffered head bytes first, then the wrapped stream."""
        self._start()
        if not self._buffer:
            return self._stream.read(size)
        buffer = self._buffer
        if size is None or size < 0:
            self._buffer = b""
            return buffer + self._stream.read()
        if size <= len(buffer):
            self._buffer = buffer[size:]
            return buffer[:size]
        self._buffer = b""
        return buffer + self._stream.read(size - len(buffer))


class JsonEvents:
    """Pull-style access to ijson's basic events with depth and error guards.

    Callers walk the structure they expect; `where` is the JSON pointer of the value being
    read and is attached to every error, so a truncated file reports "/runs/0/results/17".
    `depth` counts the containers open at the reader's position; one more than `max_depth()`
    is a TooDeep error at `where`.
    """

    def __init__(self, stream: BinaryIO, fmt: str) -> None:
        self.fmt = fmt
        self.where = ""
        self.depth = 0
        self.limit = max_depth()
        self._events = _ijson.basic_parse(JsonReader(stream), use_float=True)

    def error(self, message: str, where: str | None = None) -> ParseError:
        """A ParseError for this format at `where` (default: the current position)."""
        return ParseError(self.fmt, message, pointer=self.where if where is None else where)

    def next(self) -> tuple[str, Any]:
        """The next (event, value); truncated or malformed input becomes a ParseError."""
        try:
            event = next(self._events)
        except StopIteration:
            raise self.error("unexpected end of input (the JSON is truncated)") from None
        except JSON_ERRORS as exc:
            raise self.error(f"invalid or truncated JSON: {_first_line(exc)}") from None
        kind = event[0]
        if kind in _STARTS:
            self.depth += 1
            if self.depth > self.limit:
                raise TooDeep(self.fmt, self.limit, pointer=self.where)
        elif kind in _ENDS:
            self.depth -= 1
        return event

    def end(self) -> None:
        """Require that nothing but whitespace follows the top-level value."""
        self.where = ""
        try:
            extra = next(self._events, None)
        except JSON_ERRORS as exc:
            raise self.error(
                f"invalid JSON after the top-level value: {_first_line(exc)}"
            ) from None
        if extra is not None:
            raise self.error("unexpected data after the top-level JSON value")

    def members(self) -> Iterator[str]:
        """Keys of the object whose start_map was just read; the caller consumes each value."""
        while True:
            event, value = self.next()
            if event == "end_map":
                return
            yield value

    def elements(self) -> Iterator[tuple[str, Any]]:
        """First (event, value) of each element of the array whose start_array was just read."""
        while True:
            event, value = self.next()
            if event == "end_array":
                return
            yield event, value

    def value(self, event: str, value: Any) -> Any:
        """Build the whole value that starts with (event, value); depth-limited, iterative."""
        root = _new_container(event)
        if root is None:
            return value
        stack: list[Any] = [root]
        keys: list[Any] = [None]
        while stack:
            kind, scalar = self.next()
            if kind == "map_key":
                keys[-1] = scalar
                continue
            if kind in _ENDS:
                stack.pop()
                keys.pop()
                continue
            child = _new_container(kind)
            top = stack[-1]
            if type(top) is dict:
                top[keys[-1]] = scalar if child is None else child
            else:
                top.append(scalar if child is None else child)
            if child is not None:  # next() has checked the depth
                stack.append(child)
                keys.append(None)
        return root

    def skip(self, event: str) -> None:
        """Consume the rest of a value we do not need, without building it.

        This is the hot loop of a first pass over a large report, so it iterates the C event
        generator directly instead of going through `next()`; `event` opened a container that
        `next()` already counted in `self.depth`.
        """
        if event not in _STARTS:
            return
        depth = 1
        room = self.limit - self.depth + 1
        try:
            for kind, _ in self._events:
                if kind in _STARTS:
                    depth += 1
                    if depth > room:
                        raise TooDeep(self.fmt, self.limit, pointer=self.where)
                elif kind in _ENDS:
                    depth -= 1
                    if not depth:
                        self.depth -= 1
                        return
        except JSON_ERRORS as exc:
            raise self.error(f"invalid or truncated JSON: {_first_line(exc)}") from None
        raise self.error("unexpected end of input (the JSON is truncated)")


def _new_container(event: str) -> dict[str, Any] | list[Any] | None:
    """The empty container a start event opens, None for a scalar event."""
    if event == "start_map":
        return {}
    if event == "start_array":
        return []
    return None


def iter_items(source: BinaryIO | JsonReader, prefix: str, fmt: str) -> Iterator[Any]:
    """Values at an ijson prefix ("item", "runs.item.results.item"), each built in C.

    Errors carry no pointer; callers that know the position re-raise with one.
    """
    reader = source if isinstance(source, JsonReader) else JsonReader(source)
    try:
        yield from _ijson.items(reader, prefix, use_float=True)
    except JSON_ERRORS as exc:
        raise ParseError(fmt, f"invalid or truncated JSON: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    """yajl's first message line; the following lines quote input bytes and are dropped."""
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8 text"
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:]
    return text.replace("\\n", "\n").splitlines()[0].strip() or "parse error"


def line_number(value: Any) -> int | None:
    """A 1-based line/column number, or None when absent, not an integer or absurd."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= MAX_LINE else None


def cap(text: str, limit: int) -> str:
    """Shorten text to `limit` characters, marking the cut, so one result cannot bloat a row."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def sha256_hex(text: str) -> str:
    """sha256 hex of UTF-8 text: how a secret is remembered without being kept."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every occurrence of each non-empty secret in text with `[REDACTED]`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text


def as_str(value: Any) -> str:
    """A JSON scalar as text ("" for null/containers); numbers keep their JSON spelling."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""


def primed(items: Iterator[T]) -> Iterator[T]:
    """Advance a generator to its first item now, so a file that is broken from the start
    fails inside `parse()` rather than later in the consumer's loop."""
    try:
        first = next(items)
    except StopIteration:
        return iter(())
    return itertools.chain((first,), items)


def json_head(head: bytes) -> bytes:
    """The head without a UTF-8 BOM and leading whitespace, for content detection."""
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    return head.lstrip(b" \t\r\n")


def rewindable(stream: BinaryIO) -> tuple[BinaryIO, int]:
    """A seekable stream with the same content, and the offset where the report starts.

    Two-pass parsers need to read the report twice. Uploaded files are seekable and are
    used as they are; anything else is first copied to a temporary file that stays in memory
    up to 8 MiB (the caller closes it when it is not the stream it passed in).
    """
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        try:
            return stream, stream.tell()
        except OSError:
            pass
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    shutil.copyfileobj(stream, spool, 1024 * 1024)
    spool.seek(0)
    return spool, 0  # type: ignore[return-value]
