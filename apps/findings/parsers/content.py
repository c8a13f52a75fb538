"""What a JSON report says, as one digest: the key under which an import repeats an earlier one.

A scanner run again on unchanged code writes the same results in other bytes: other
whitespace, another run time. `content_digest` reads the document's JSON tokens through the
same TextGuard the parsers read through (yajl's C reader, nothing built) and hashes their
pickled bytes, so
formatting does not count; the members a parser declares it never reads (`Parser.unread`)
are left out, so run times do not count either. Equal digests under the same import context
(format, parser revision, tool override, path resolution) parse to the same results, so the
import can repeat the earlier scan instead of converting every result again
(apps/findings/repeat.py).

Formats that are not one JSON document (XML, tag-value, JSON lines) have no digest, nor does a
document the reader refuses: the full import then reports what is wrong with it.
"""

from __future__ import annotations

import hashlib
import io
import pickle  # noqa: S403 - only writes, of values it built itself
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, BinaryIO

import ijson

from ._text import TextGuard
from .base import Parser

try:  # the C backend; ijson falls back to pure Python without it
    _ijson = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    _ijson = ijson

# Bump when what a parser makes of the same tokens changes (a conversion rule, a new field
# kept), so that no import repeats a scan read under the old rules.
PARSER_REVISION = "1"
_JSON_SHAPES = frozenset({"object", "array", "object-or-array"})
_CHUNK = 8192  # events encoded at once: few C calls, bounded memory
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})
_DEPTH = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}

Event = tuple[str, Any]


def content_digest(stream: BinaryIO, parser: Parser, *, context: Sequence[str]) -> str | None:
    """The sha256 of the report's JSON tokens (less `parser.unread`) and `context`, or None
    when the format is not one JSON document, the stream cannot seek back or the reader
    refuses the document. The stream is left where it was."""
    if type(parser).shape not in _JSON_SHAPES or not stream.seekable():
        return None
    digest = hashlib.sha256(repr((PARSER_REVISION, parser.format, *context)).encode())
    start = stream.tell()
    guard = TextGuard(stream)
    try:
        events: Iterator[Event] = iter(_ijson.basic_parse(guard, use_float=True))
        if type(parser).unread:
            events = _without_unread(events, type(parser).unread)
        while chunk := list(islice(events, _CHUNK)):
            digest.update(_encoded(chunk))
    except (ijson.JSONError, ValueError, UnicodeDecodeError):
        return None
    finally:
        stream.seek(start)
    # Replaced characters are reported by the import: equal digests must replace as many.
    digest.update(f"|replaced={guard.replaced}".encode())
    return digest.hexdigest()


def _encoded(chunk: list[Event]) -> memoryview:
    """The events as pickle bytes, in C. Fast mode keeps no memo, so the bytes depend on the
    values alone, never on which of them happen to be one object."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True
    pickler.dump(chunk)
    return out.getbuffer()


def _without_unread(
    events: Iterable[Event], unread: Mapping[tuple[str, ...], frozenset[str]]
) -> Iterator[Event]:
    """`events` less the members of the objects at the paths of `unread` (keys, "*" for any
    array element) that are not among the names read there. Containers are tracked only as
    deep as the deepest rule's object; below that, nesting is only counted."""
    limit = max(len(path) for path in unread)
    path: list[str] = []  # keys ("*" for array elements) down to the current container
    keys: list[str | None] = []  # per tracked container: the key of its current member
    reads: list[frozenset[str] | None] = []  # per tracked container: the names it keeps
    skip = 0  # > 0 inside a left-out member: its nesting depth
    deep = 0  # > 0 inside containers below the tracked ones: their nesting depth
    for event in events:
        kind = event[0]
        if skip:
            skip += _DEPTH.get(kind, 0)
            if skip == 1:  # back at the member's level: its value has ended
                skip = 0
            continue
        if deep:
            deep += _DEPTH.get(kind, 0)
        elif kind == "map_key":
            read = reads[-1]
            if read is not None and event[1] not in read:
                skip = 1
                continue
            keys[-1] = event[1]
        elif kind in _OPEN:
            if keys:
                if len(path) >= limit:
                    deep = 1
                    yield event
                    continue
                path.append("*" if keys[-1] is None else keys[-1])  # None: in an array
            keys.append(None)
            reads.append(unread.get(tuple(path)))
        elif kind in _CLOSE:
            keys.pop()
            reads.pop()
            if path:
                path.pop()
        yield event
