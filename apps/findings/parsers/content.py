"""What a JSON report says, as one digest: the key under which an import repeats an earlier one.

A scanner run again on unchanged code writes the same results in other bytes: other
whitespace, another run time. `content_digest` reads the document's JSON tokens through the
same TextGuard the parsers read through (yajl's C reader, nothing built) and hashes their
pickled bytes, so formatting does not count; the members a parser declares it never reads
(`Parser.unread`) are left out, so run times do not count either. Equal digests under the
same import context (format, tool override, target, branch, path resolution) and the same
conversion code parse to the same results, so the import can repeat the earlier scan instead
of converting every result again (apps/findings/repeat.py).

Formats that are not one JSON document (XML, tag-value, JSON lines) have no digest, nor does a
document the reader refuses: the full import then reports what is wrong with it.
"""

from __future__ import annotations

import hashlib
import io
import pickle  # noqa: S403 - only writes, of values it built itself
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import accumulate, islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from ._text import TextGuard
from .base import Parser

try:  # the C backend; ijson falls back to pure Python without it
    _ijson = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    _ijson = ijson

# The code that turns tokens into findings: when any of it changes (an upgrade, a new rule),
# no import repeats a scan read under the old code.
_CONVERSION_CODE = (
    "apps/findings/parsers",
    "apps/findings/dedup.py",
    "apps/findings/ingestion.py",
    "apps/findings/rows.py",
    "apps/findings/targets.py",
)
_ROOT = Path(__file__).resolve().parents[3]
_JSON_SHAPES = frozenset({"object", "array", "object-or-array"})
_CHUNK = 8192  # events encoded at once: few C calls, bounded memory
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})
_DEPTH = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}
_KIND = itemgetter(0)

Event = tuple[str, Any]


def content_digest(stream: BinaryIO, parser: Parser, *, context: Sequence[str]) -> str | None:
    """The sha256 of the report's JSON tokens (less `parser.unread`) and `context`, or None
    when the format is not one JSON document, its parser's imports are never repeated, the
    stream cannot seek back or the reader refuses the document. The stream is left where it
    was."""
    kind = type(parser)
    if kind.shape not in _JSON_SHAPES or not kind.repeatable or not stream.seekable():
        return None
    digest = hashlib.sha256(repr((conversion_revision(), parser.format, *context)).encode())
    start = stream.tell()
    guard = TextGuard(stream)
    kept = _Unread(kind.unread) if kind.unread else None
    held: list[Event] = []  # kept events not hashed yet: hashed in blocks of exactly _CHUNK
    try:
        events = iter(_ijson.basic_parse(guard, use_float=True))
        while chunk := list(islice(events, _CHUNK)):
            if kept is None:
                digest.update(_encoded(chunk))
                continue
            held += kept.filter(chunk)
            while len(held) >= _CHUNK:
                digest.update(_encoded(held[:_CHUNK]))
                del held[:_CHUNK]
        if held:
            digest.update(_encoded(held))
    except (ijson.JSONError, ValueError, UnicodeDecodeError):
        return None
    finally:
        stream.seek(start)
    # Replaced characters are reported by the import: equal digests must replace as many.
    digest.update(f"|replaced={guard.replaced}".encode())
    return digest.hexdigest()


@cache
def conversion_revision() -> str:
    """A digest of the source of the conversion code (`_CONVERSION_CODE`), read once."""
    digest = hashlib.sha256()
    for name in _CONVERSION_CODE:
        path = _ROOT / name
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(source.relative_to(_ROOT)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _encoded(chunk: list[Event]) -> memoryview:
    """The events as pickle bytes, in C. Fast mode keeps no memo, so the bytes depend on the
    values alone, never on which of them happen to be one object."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True
    pickler.dump(chunk)
    return out.getbuffer()


class _Unread:
    """Leaves out of an event stream the members of the objects at the paths of `unread`
    (keys, "*" for any array element) that are not among the names read there.

    Only the containers on the way to a rule's object are walked event by event. Any other
    value, and a left-out member, is passed or dropped whole: where it ends is found in C,
    from the nesting depth after each event of the chunk (`accumulate`), so the results of a
    SARIF log cost no Python per event."""

    def __init__(self, unread: Mapping[tuple[str, ...], frozenset[str]]) -> None:
        self.unread = unread
        self.on_the_way = {path[:n] for path in unread for n in range(len(path) + 1)}
        self.depth = 0  # containers open before the next event
        self.path: list[str] = []  # keys ("*" in an array) down to the innermost walked one
        self.keys: list[str | None] = []  # per walked container: its current member's key
        self.reads: list[frozenset[str] | None] = []  # per walked container: names read
        self.drop_next = False  # the next value is a left-out member's
        self.until: int | None = None  # inside a whole value: the depth it ends at
        self.keep = True  # whether that value is passed (or dropped)

    def filter(self, chunk: list[Event]) -> list[Event]:
        depths = list(accumulate(map(_DEPTH.get, map(_KIND, chunk), repeat(0)), initial=self.depth))
        self.depth = depths[-1]
        out: list[Event] = []
        i, n = 0, len(chunk)
        while i < n:
            if self.until is not None:  # a whole value: up to the event back at its depth
                try:
                    end = depths.index(self.until, i + 1)
                except ValueError:
                    end = n  # it goes on in the next chunk
                else:
                    self.until = None
                if self.keep:
                    out += chunk[i:end]
                i = end
                continue
            event = chunk[i]
            kind = event[0]
            if kind == "map_key":
                self._member(event, out)
                i += 1
                continue
            drop, self.drop_next = self.drop_next, False
            if kind in _OPEN:
                path = (*self.path, self._child()) if self.keys else ()
                if drop or path not in self.on_the_way:
                    self.until, self.keep = depths[i], not drop
                    continue  # this event opens the whole value
                if self.keys:
                    self.path.append(path[-1])
                self.keys.append(None)
                self.reads.append(self.unread.get(path))
            elif kind in _CLOSE:
                self.keys.pop()
                self.reads.pop()
                if self.path:
                    self.path.pop()
            if not drop:
                out.append(event)
            i += 1
        return out

    def _member(self, event: Event, out: list[Event]) -> None:
        """A member's key: kept, or left out with the value that follows."""
        read = self.reads[-1]
        if read is not None and event[1] not in read:
            self.drop_next = True
        else:
            self.keys[-1] = event[1]
            out.append(event)

    def _child(self) -> str:
        key = self.keys[-1]
        return "*" if key is None else key  # None: the parent is an array
