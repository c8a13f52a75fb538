"""Request body parsers: JSON bodies with every string cleaned before any view sees them.

A `\\u0000` in a JSON body reached PostgreSQL as a NUL (jsonb refuses `\\u0000`, text columns
refuse NUL) and an unpaired surrogate (`"\\ud800"`) could not even be encoded for the wire:
both were HTTP 500s from fields that take free JSON (integration settings, policy parameters)
or text. `CleanJSONParser` is DRF's JSONParser followed by `fixops.platform.text.clean_data`,
which turns both into U+FFFD in every string and key, so validation then sees ordinary text.

Before decoding, the body's nesting is measured without recursion (`fixops.platform.jsondepth`):
deeper than FIXOPS_MAX_INPUT_DEPTH is a 400 `too_deep` naming the pointer and the limit, so no
view, serializer, policy engine or JSON encoder downstream meets a value deeper than that.
A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 `too_large`, read no further.
It is the default parser (fixops/settings/components/drf.py).
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from fixops.platform.errors import Invalid, TooLarge
from fixops.platform.jsondepth import deep_pointer
from fixops.platform.text import clean_data


class CleanJSONParser(JSONParser):
    """JSONParser whose result holds no NUL, no unpaired surrogate (U+FFFD instead) and no
    nesting deeper than FIXOPS_MAX_INPUT_DEPTH."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = read_bounded(stream)
        refuse_too_deep(body)
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # kept as a backstop; the depth check refuses these first
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        cleaned, _ = clean_data(data)
        return cleaned


def read_bounded(stream: Any) -> bytes:
    """The body, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, else TooLarge `too_large`.

    DRF reads the request stream itself, past Django's check of that setting (which guards
    `request.body` and form data only), so a JSON body of any size was read and decoded whole.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream.read()
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise TooLarge(
            f"The JSON body exceeds {limit} bytes.",
            code="too_large",
            details={"limit_bytes": limit},
        )
    return body


def refuse_too_deep(body: bytes) -> None:
    """Invalid `too_deep` when the JSON `body` nests deeper than FIXOPS_MAX_INPUT_DEPTH."""
    limit = settings.FIXOPS_MAX_INPUT_DEPTH
    where = deep_pointer(io.BytesIO(body), limit)
    if where is not None:
        raise Invalid(
            f"The JSON body is nested deeper than {limit} levels.",
            code="too_deep",
            details={"pointer": where, "limit": limit},
        )
