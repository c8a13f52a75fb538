"""HTML to PDF with WeasyPrint, offline.

The PDF's HTML links its stylesheet as `fixops-static:<path>`; the fetcher below answers that
one name from disk (the static file the HTML report links) and refuses every other URL, so
laying out a report never opens a connection, whatever a finding's title or a link in the
page says. Fonts are the system's (fontconfig: Debian's fonts-dejavu-core).

WeasyPrint loads Pango when imported. Without it (a machine lacking Debian's libpango) the
import fails; FixOps still starts, HTML and CSV reports still work, the PDF format answers
503 `pdf_unavailable`, and `manage.py check` warns (fixops.W150, apps/workspace/checks.py).
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders

from fixops.platform.errors import Unavailable

try:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher, URLFetcherResponse
except OSError as exc:  # cffi could not open Pango's libraries
    HTML, URLFetcher, URLFetcherResponse = None, object, None
    MISSING: str | None = f"WeasyPrint cannot load Pango: {exc}"
else:
    MISSING = None

STYLESHEET = "fixops/report.css"
SCHEME = "fixops-static:"
# A base URL nothing can be fetched from: relative links resolve here, and are refused.
BASE_URL = "https://report.fixops.invalid/"


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


def require() -> None:
    """Raise Unavailable (503 `pdf_unavailable`) unless WeasyPrint can run here."""
    if MISSING is not None:
        raise Unavailable(
            "PDF reports need Pango on this server (Debian: apt-get install libpango-1.0-0 "
            "libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core); HTML and CSV work.",
            code="pdf_unavailable",
        )


def write_pdf(html: str, *, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """`html` laid out as a PDF; `fetcher` (a fresh one by default) records what was asked.
    Unavailable when WeasyPrint cannot run here (Pango missing)."""
    require()
    fetcher = fetcher or StaticOnlyFetcher()
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf()
