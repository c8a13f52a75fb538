"""The WeasyPrint half of the PDF reports: the offline fetcher and the layout.

Importing this module loads WeasyPrint and, with it, Pango: about 0.7 s, and OSError on a
machine without Pango. So nothing imports it at start; apps/workspace/reports/pdf.py does, on
the first PDF or the first check.

The PDF's HTML links its stylesheet as `fixops-static:<path>`; the fetcher below answers that
one name from disk (the static file the HTML report links) and refuses every other URL, so
laying out a report never opens a connection, whatever a finding's title or a link in the
page says. Fonts are the system's (fontconfig: Debian's fonts-dejavu-core).
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from apps.workspace.reports.pdf import BASE_URL, SCHEME, STYLESHEET


class RefusedFetch(ValueError):
    """A URL the report may not fetch."""


class StaticOnlyFetcher(URLFetcher):
    """Serves our report stylesheet from disk; refuses everything else (WeasyPrint logs the
    refusal as a warning and lays the page out without that resource)."""

    def __init__(self) -> None:
        super().__init__(timeout=1, allowed_protocols=())
        self.fetched: list[str] = []
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if url != SCHEME + STYLESHEET:
            self.refused.append(url)
            raise RefusedFetch(f"reports fetch nothing but their stylesheet, not {url!r}")
        self.fetched.append(url)
        return URLFetcherResponse(
            url, body=stylesheet_bytes(), headers={"Content-Type": "text/css; charset=utf-8"}
        )


def stylesheet_bytes() -> bytes:
    """The report stylesheet as served under /static/ (found by the staticfiles finders)."""
    found = finders.find(STYLESHEET)
    if not found:
        raise FileNotFoundError(STYLESHEET)
    return Path(found).read_bytes()


def write_pdf(html: str, *, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """`html` laid out as a PDF; `fetcher` (a fresh one by default) records what was asked."""
    fetcher = fetcher or StaticOnlyFetcher()
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf()
