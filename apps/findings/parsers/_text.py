"""Text hygiene for every parser: U+0000 and unpaired surrogates become U+FFFD.

Why at the bytes: a JSON report may carry `"\\u0000"` (grype copies NULs from package
metadata) or a lone surrogate escape `"\\udc00"`. ijson hands the first over as a NUL, which
PostgreSQL refuses in COPY; the second makes ijson itself fail with a UnicodeDecodeError. So
`TextGuard` rewrites those escapes in the byte stream, before any JSON reader sees them, into
`\\ufffd` (the same six bytes), and a raw UTF-8-encoded surrogate (`ED A0..BF xx`, invalid
UTF-8 that some Java tools write) into `EF BF BD` (the same three). Valid pairs
(`\\ud83d\\ude00`) and escaped backslashes (`\\\\u0000` is the text "\\u0000") are left alone.
Because every rewrite keeps the length, the guard stays seekable and `tell()` positions stay
true, so two-pass parsers and error offsets work unchanged.

Only JSON is rewritten (the first significant byte is `{` or `[`: JSON documents and JSON
lines). XML cannot carry either character (expat refuses `&#0;`, `&#xD800;` and their raw
bytes), and any other text format is cleaned at the output instead: `clean_value` applies
`fixops.platform.text.clean_text` to every string of every finding, component and issue.

The guard counts the characters it replaced once per byte offset, however often a multi-pass
parser reads the report; `Parser` (parsers/base.py) wraps every parser's `parse` in a guard
and reports the count as one warning.
"""

from __future__ import annotations

import dataclasses
import io
import re
from typing import Any, BinaryIO, TypeVar

from fixops.platform.text import clean_data, clean_text

T = TypeVar("T")
_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
# A chunk that contains none of these needs no rewriting (the common case: a cheap search;
# one pattern with both alternatives would lose the regex engine's literal-prefix scan).
_SUSPECT = re.compile(rb"\\u(?:0000|[dD])")
_RAW_SURROGATE_LEAD = b"\xed"
# A run of backslashes then u + NUL / a surrogate pair / a lone surrogate; or a raw surrogate.
_ESCAPE = re.compile(
    rb"(\\+)u(0000|[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|\xed[\xa0-\xbf][\x80-\xbf]"
)
_HIGH = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_ESCAPED_FFFD = b"ufffd"
_UTF8_FFFD = b"\xef\xbf\xbd"


class TextGuard(io.BufferedIOBase):
    """A binary stream whose JSON content has no NUL or unpaired surrogate (see the module).

    A buffered binary stream (`read`, `read1`, `readinto`, `peek`, `seek`, `tell`, and from
    io the rest: `readline`, iteration, `io.TextIOWrapper`), so a parser may read it as it
    would the upload. Closing it leaves the wrapped stream open. `replaced` is how many
    characters were replaced, each byte offset counted once.
    """

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._held = b""  # read from `raw`, not yet cleaned (may end inside an escape)
        self._out = b""  # cleaned, not yet returned
        self._offset = _tell(raw)  # offset in `raw` of the end of `_held`
        self._odd = False  # the bytes cleaned so far end with an odd run of backslashes
        self.mode = ""  # "json", "xml" or "text" from the first significant byte; "" before
        self._counted_to = self._offset
        self.replaced = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        try:
            return bool(self._raw.seekable())
        except (AttributeError, ValueError):
            return False

    def tell(self) -> int:
        return self._offset - len(self._held) - len(self._out)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset, whence = self.tell() + offset, 0
        position = self._raw.seek(offset, whence)
        self._held = self._out = b""
        self._odd = False
        self._offset = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            chunks = [self._out]
            self._out = b""
            while chunk := self._fill(_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        while len(self._out) < size:  # `size` bytes unless the stream ends, as io promises
            chunk = self._fill(size - len(self._out))
            if not chunk:
                break
            self._out += chunk
        data, self._out = self._out[:size], self._out[size:]
        return data

    def read1(self, size: int | None = -1) -> bytes:
        """At most `size` bytes with at most one read of the wrapped stream."""
        size = _CHUNK if size is None or size < 0 else size
        if not self._out and size:
            self._out = self._fill(size)
        data, self._out = self._out[:size], self._out[size:]
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def peek(self, size: int = 0) -> bytes:
        """Buffered bytes without consuming them (lets io's `readline` find the newline)."""
        if not self._out:
            self._out = self._fill(_CHUNK)
        return self._out

    def _fill(self, size: int) -> bytes:
        """The next cleaned bytes (b"" at the end), reading at least `size` from `raw`."""
        while True:
            data = self._raw.read(size)
            self._offset += len(data)
            buffer = self._held + data
            if not self.mode:
                self._decide(buffer)
            if not data or self.mode not in ("", "json"):
                piece, self._held = buffer, b""
            else:
                cut = _safe_cut(buffer)
                piece, self._held = buffer[:cut], buffer[cut:]
            if piece or not data:
                return self._clean(piece)

    def _decide(self, buffer: bytes) -> None:
        head = buffer[len(_BOM) :] if buffer.startswith(_BOM) else buffer
        head = head.lstrip(_WHITESPACE)
        if head:
            first = head[:1]
            self.mode = "json" if first in (b"{", b"[") else "xml" if first == b"<" else "text"

    def _clean(self, piece: bytes) -> bytes:
        if not piece or self.mode != "json":
            return piece
        start = self._offset - len(self._held) - len(piece)
        if _SUSPECT.search(piece) or _RAW_SURROGATE_LEAD in piece:
            piece = self._rewrite(piece, start)
        self._counted_to = max(self._counted_to, start + len(piece))
        tail = len(piece) - len(piece.rstrip(b"\\"))
        self._odd = (self._odd ^ bool(tail % 2)) if tail == len(piece) else bool(tail % 2)
        return piece

    def _rewrite(self, piece: bytes, start: int) -> bytes:
        carry = self._odd

        def fix(match: re.Match[bytes]) -> bytes:
            run = match.group(1)
            if run is None:  # a raw UTF-8-encoded surrogate
                self._count(start + match.start())
                return _UTF8_FFFD
            backslashes = len(run) + (carry if match.start() == 0 else 0)
            body = match.group(2)
            if backslashes % 2 == 0:
                # "\\uD83D" is an escaped backslash and plain text, so a "\uDE00" matched
                # with it is a lone low surrogate.
                if len(body) < 10:
                    return match.group(0)
                self._count(start + match.start(2) + 4)
                return run + b"u" + body[:4] + b"\\" + _ESCAPED_FFFD
            if len(body) == 10:  # a valid surrogate pair
                return match.group(0)
            self._count(start + match.start(2))
            return run + _ESCAPED_FFFD

        return _ESCAPE.sub(fix, piece)

    def _count(self, offset: int) -> None:
        if offset >= self._counted_to:
            self.replaced += 1


def _tell(raw: BinaryIO) -> int:
    try:
        return raw.tell()
    except (AttributeError, OSError, ValueError):
        return 0


def _safe_cut(buffer: bytes) -> int:
    """Where to split `buffer` so no escape, surrogate pair or raw UTF-8 sequence that the
    next read may complete is cut: before a backslash among the last 6 bytes, and before a
    high surrogate escape that a low one may follow."""
    end = len(buffer)
    cut = end
    backslash = buffer.rfind(b"\\", max(0, end - 6))
    if backslash >= 0:
        cut = backslash
        if cut >= 6 and _HIGH.fullmatch(buffer, cut - 6, cut):
            cut -= 6
    raw = buffer.rfind(b"\xed", max(0, end - 2))
    if raw >= 0:
        cut = min(cut, raw)
    return cut


# --- output of a parser that does not read JSON -------------------------------------------------


def clean_value(value: T) -> tuple[T, int]:
    """A finding, component, CVSS entry, tuple, dict or str with every string cleaned."""
    if isinstance(value, str):
        return clean_text(value)  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes: dict[str, Any] = {}
        total = 0
        for spec in dataclasses.fields(value):
            old = getattr(value, spec.name)
            new, count = clean_value(old)
            if count:
                changes[spec.name] = new
                total += count
        return (dataclasses.replace(value, **changes) if changes else value), total
    if isinstance(value, tuple):
        cleaned = [clean_value(item) for item in value]
        total = sum(count for _, count in cleaned)
        return (tuple(item for item, _ in cleaned) if total else value), total  # type: ignore[return-value]
    if isinstance(value, dict):
        return clean_data(value)  # type: ignore[return-value]
    return value, 0
