"""HTML to PDF with WeasyPrint, offline (the layout and its fetcher: pdf_layout.py).

WeasyPrint loads Pango when imported, which takes about 0.7 s: web workers, Celery workers
and management commands that never make a PDF should not pay it at start, so pdf_layout is
imported on the first PDF (or the first system check), here. Without Pango (a machine
lacking Debian's libpango) that import fails; FixOps still starts, HTML and CSV reports still
work, the PDF format answers 503 `pdf_unavailable`, and `manage.py check` warns
(fixops.W150, apps/workspace/checks.py).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from fixops.platform.errors import Unavailable

if TYPE_CHECKING:
    from apps.workspace.reports.pdf_layout import StaticOnlyFetcher

STYLESHEET = "fixops/report.css"  # the HTML links it as SCHEME + STYLESHEET for the PDF
SCHEME = "fixops-static:"
# A base URL nothing can be fetched from: relative links resolve here, and are refused.
BASE_URL = "https://report.fixops.invalid/"


@functools.cache
def missing() -> str | None:
    """Why this server cannot make PDFs (WeasyPrint cannot load Pango), else None."""
    try:
        from apps.workspace.reports import pdf_layout  # noqa: F401
    except OSError as exc:  # cffi could not open Pango's libraries
        return f"WeasyPrint cannot load Pango: {exc}"
    return None


def require() -> None:
    """Raise Unavailable (503 `pdf_unavailable`) unless WeasyPrint can run here."""
    if missing() is not None:
        raise Unavailable(
            "PDF reports need Pango on this server (Debian: apt-get install libpango-1.0-0 "
            "libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core); HTML and CSV work.",
            code="pdf_unavailable",
        )


def write_pdf(html: str, *, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """`html` laid out as a PDF; `fetcher` (a fresh one by default) records what was asked.
    Unavailable when WeasyPrint cannot run here (Pango missing)."""
    require()
    from apps.workspace.reports import pdf_layout

    return pdf_layout.write_pdf(html, fetcher=fetcher)
