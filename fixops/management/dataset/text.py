"""Rows spooled to temporary files in PostgreSQL's COPY text format, one file per table.

The generator makes every table's rows in one pass over the data (a finding's occurrences,
events and ticket link are decided with it), so each table's rows go to a file and are loaded
afterwards by one COPY each: no row is held in memory, and COPY reads pre-formatted bytes
(psycopg's per-value adaptation of `write_row` costs more than the formatting here).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import models

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":")).translate(_ESCAPES)


# By exact type: one dict lookup per value instead of a chain of isinstance checks.
_FORMAT = {
    str: lambda value: value.translate(_ESCAPES),
    int: str,
    float: repr,
    bool: lambda value: "t" if value else "f",
    type(None): lambda _: NULL,
    datetime: datetime.isoformat,
    dict: _json,
    list: _json,
}


def cell(value: object) -> str:
    """One value as COPY text."""
    formatter = _FORMAT.get(type(value))
    if formatter is None:
        return value.text if isinstance(value, Json) else _json(value)
    return formatter(value)


class Json:
    """A JSON value serialised once (and escaped for COPY), for values many rows share."""

    __slots__ = ("text",)

    def __init__(self, value: object) -> None:
        self.text = json.dumps(value, separators=(",", ":")).translate(_ESCAPES)


EMPTY_LIST = Json([])
EMPTY_DICT = Json({})


class TableFile:
    """The rows of one table (tuples in `fields` order), spooled to a temporary file."""

    def __init__(self, model: type[models.Model], fields: Sequence[str]) -> None:
        self.model = model
        self.fields = list(fields)
        self.columns = [model._meta.get_field(name).column for name in fields]
        self.rows = 0
        self.file = tempfile.TemporaryFile(mode="w+b", prefix="fixops-dataset-")  # noqa: SIM115
        # When set, rows go straight to an open COPY instead of the file (see build.py).
        self.sink: Callable[[bytes], object] | None = None
        self._buffer: list[str] = []

    def add(self, row: Sequence[object]) -> None:
        # cell() inlined: this line runs for every value of millions of rows.
        get = _FORMAT.get
        self._buffer.append("\t".join([get(type(value), _json)(value) for value in row]))
        self.rows += 1
        if len(self._buffer) >= 5000:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            data = ("\n".join(self._buffer) + "\n").encode()
            (self.sink or self.file.write)(data)
            self._buffer = []

    def chunks(self, size: int = 1 << 20):
        """The file's bytes from the start, in chunks of `size`."""
        self.flush()
        self.file.seek(0)
        while chunk := self.file.read(size):
            yield chunk

    def close(self) -> None:
        self.file.close()


_FORMAT[Json] = lambda value: value.text
