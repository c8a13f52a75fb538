"""Joining a configured base URL and a vendor path, keeping the base URL's query (Azure's
`?api-version=`)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def join(base_url: str, path: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, ""))


def host(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "").lower()
