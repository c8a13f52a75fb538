"""Echo suppression marks: how a comment FixOps wrote is recognised when the vendor's webhook
sends it back.

The outbound record (apps/connectors/attempts.py) keeps, on the ExternalLink, the comment id
the vendor returned (when the connector returns one) and a digest of the text; an inbound
comment matching either is ours. The digest ignores case, whitespace and markup characters,
because each vendor re-renders the body (Jira wiki/ADF, Markdown) before echoing it.
"""

from __future__ import annotations

import hashlib
import re

_NOISE = re.compile(r"[\s*_`#>\[\]()|{}~-]+")


def body_mark(body: str) -> str:
    """The digest mark of a comment body, robust to the vendor's re-rendering."""
    text = _NOISE.sub("", (body or "").casefold())
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def id_mark(comment_id: object) -> str:
    return f"id:{comment_id}"


def marks(body: str, comment_id: object = None) -> list[str]:
    """The marks to keep for one comment FixOps wrote."""
    found = [body_mark(body)]
    if comment_id not in (None, ""):
        found.append(id_mark(comment_id))
    return found


def is_echo(kept: list[str], *, comment_id: str, body: str) -> bool:
    """Whether an inbound comment is one FixOps wrote."""
    if comment_id and id_mark(comment_id) in kept:
        return True
    return bool(body) and body_mark(body) in kept
