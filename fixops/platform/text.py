"""Text the database can store: U+0000 and unpaired surrogates replaced by U+FFFD.

PostgreSQL refuses both: a NUL in a text column or a COPY row ("invalid byte sequence"), a
`\\u0000` in jsonb ("unsupported Unicode escape sequence"), and a lone surrogate cannot even be
encoded as UTF-8 for the wire. JSON allows both as escapes (`"\\u0000"`, `"\\ud800"`), and real
tools emit them (grype copies NULs from package metadata). Replacing them with U+FFFD, the
Unicode replacement character, keeps the rest of the text and marks where something was lost;
refusing the document would lose all of it.

`clean_text` is the one rule; `clean_data` applies it to every string (keys too) of a decoded
JSON value, iteratively, since the nesting depth of a request body is the sender's choice.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
# In a Python str a surrogate is always unpaired: decoders join valid pairs into one code point.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> tuple[str, int]:
    """(text with NUL and surrogates replaced by U+FFFD, how many were replaced)."""
    if text.isascii():
        count = text.count("\x00")
        return (text.replace("\x00", REPLACEMENT), count) if count else (text, 0)
    return _UNSTORABLE.subn(REPLACEMENT, text)


def clean_data(value: Any) -> tuple[Any, int]:
    """(a decoded JSON value with every string and key cleaned, how many were replaced).

    Containers are rebuilt only when something in them changed; anything that is not a dict,
    list or str is returned as it is.
    """
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list):
        return value, 0
    total = 0
    # Containers in pre-order, each with its parent (None for the root).
    stack: list[tuple[Any, Any]] = [(value, None)]
    order: list[tuple[Any, Any]] = []
    while stack:
        node, parent = stack.pop()
        order.append((node, parent))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, node) for child in children if isinstance(child, dict | list))
    replaced: dict[int, Any] = {}  # id(original container) -> its cleaned copy
    for node, parent in reversed(order):  # children before their parents
        changed = False
        if isinstance(node, dict):
            result: Any = {}
            for child_key, child in node.items():
                new_key, key_count = _cleaned_child(child_key, replaced)
                new_child, count = _cleaned_child(child, replaced)
                total += key_count + count
                changed = changed or new_key is not child_key or new_child is not child
                result[new_key] = new_child
        else:
            result = []
            for child in node:
                new_child, count = _cleaned_child(child, replaced)
                total += count
                changed = changed or new_child is not child
                result.append(new_child)
        if not changed:
            result = node
        if parent is None:
            return result, total
        replaced[id(node)] = result
    return value, total  # pragma: no cover - the root is always last in `order`


def _cleaned_child(child: Any, replaced: dict[int, Any]) -> tuple[Any, int]:
    """A key or value as cleaned: strings now, containers from the post-order pass."""
    if isinstance(child, str):
        return clean_text(child)
    if isinstance(child, dict | list):
        return replaced.get(id(child), child), 0
    return child, 0
