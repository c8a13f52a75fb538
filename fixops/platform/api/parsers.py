"""Request body parsers: JSON bodies with every string cleaned before any view sees them.

A `\\u0000` in a JSON body reached PostgreSQL as a NUL (jsonb refuses `\\u0000`, text columns
refuse NUL) and an unpaired surrogate (`"\\ud800"`) could not even be encoded for the wire:
both were HTTP 500s from fields that take free JSON (integration settings, policy parameters)
or text. `CleanJSONParser` is DRF's JSONParser followed by `fixops.platform.text.clean_data`,
which turns both into U+FFFD in every string and key, so validation then sees ordinary text.
A body nested too deeply for the JSON decoder is a 400 like any other malformed body.
It is the default parser (fixops/settings/components/drf.py).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from fixops.platform.text import clean_data


class CleanJSONParser(JSONParser):
    """JSONParser whose result holds no NUL and no unpaired surrogate (U+FFFD instead)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        cleaned, _ = clean_data(data)
        return cleaned
