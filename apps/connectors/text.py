"""Ticket body conversion shared by the vendor mappings.

A Ticket body is plain text with light markdown: blank lines separate paragraphs, lines starting
with "- " or "* " are bullet items. Everything else is literal text — vendor markup in a body
is escaped, never interpreted (no template or markup injection through finding data).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_BULLET = re.compile(r"^\s*[-*]\s+")


@dataclass(frozen=True)
class Block:
    kind: str  # "paragraph" | "bullets"
    lines: tuple[str, ...]


def blocks(body: str) -> list[Block]:
    """Split a body into paragraphs and bullet lists."""
    out: list[Block] = []
    for chunk in re.split(r"\n\s*\n", (body or "").replace("\r\n", "\n").strip()):
        lines = [line.rstrip() for line in chunk.split("\n") if line.strip()]
        if not lines:
            continue
        if all(_BULLET.match(line) for line in lines):
            out.append(Block("bullets", tuple(_BULLET.sub("", line) for line in lines)))
        else:
            out.append(Block("paragraph", tuple(line.strip() for line in lines)))
    return out


def to_html(body: str, *, url: str = "", link_text: str = "View in FixOps") -> str:
    """Escaped XHTML (Confluence storage format, ServiceNow / Azure DevOps HTML fields)."""
    parts = []
    for block in blocks(body):
        if block.kind == "bullets":
            items = "".join(f"<li>{html.escape(line)}</li>" for line in block.lines)
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append("<p>" + "<br/>".join(html.escape(line) for line in block.lines) + "</p>")
    if url:
        parts.append(
            f'<p><a href="{html.escape(url, quote=True)}">{html.escape(link_text)}</a></p>'
        )
    return "".join(parts)


def to_adf(body: str, *, url: str = "", link_text: str = "View in FixOps") -> dict:
    """Atlassian Document Format (Jira Cloud REST v3 rich-text fields)."""

    def text_node(text: str) -> dict:
        return {"type": "text", "text": text}

    def paragraph(lines: tuple[str, ...]) -> dict:
        content: list[dict] = []
        for i, line in enumerate(lines):
            if i:
                content.append({"type": "hardBreak"})
            content.append(text_node(line))
        return {"type": "paragraph", "content": content}

    content: list[dict] = []
    for block in blocks(body):
        if block.kind == "bullets":
            content.append(
                {
                    "type": "bulletList",
                    "content": [
                        {"type": "listItem", "content": [paragraph((line,))]}
                        for line in block.lines
                    ],
                }
            )
        else:
            content.append(paragraph(block.lines))
    if url:
        content.append(
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": link_text,
                        "marks": [{"type": "link", "attrs": {"href": url}}],
                    }
                ],
            }
        )
    return {"type": "doc", "version": 1, "content": content}


_WIKI_SPECIAL = re.compile(r"([{}\[\]*_+^~?|!#-])")


def to_jira_wiki(body: str, *, url: str = "", link_text: str = "View in FixOps") -> str:
    """Jira wiki markup (Jira Data Center REST v2), with markup characters escaped."""

    def esc(text: str) -> str:
        return _WIKI_SPECIAL.sub(r"\\\1", text)

    parts = []
    for block in blocks(body):
        if block.kind == "bullets":
            parts.append("\n".join(f"* {esc(line)}" for line in block.lines))
        else:
            parts.append("\n".join(esc(line) for line in block.lines))
    if url:
        parts.append(f"[{esc(link_text)}|{url.replace('|', '%7C').replace(']', '%5D')}]")
    return "\n\n".join(parts)


def to_markdown(body: str, *, url: str = "", link_text: str = "View in FixOps") -> str:
    """Markdown for GitHub / GitLab issue bodies (the body is already light markdown)."""
    text = (body or "").strip()
    if url:
        text = f"{text}\n\n[{link_text}]({url})" if text else f"[{link_text}]({url})"
    return text


def slack_escape(text: str) -> str:
    """Slack mrkdwn escaping: &, < and > are the only control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Cut text to `limit` characters (with an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
