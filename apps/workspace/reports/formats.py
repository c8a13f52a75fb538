"""A report document written as HTML, CSV or PDF, and its download name.

HTML: templates/workspace/report.html with static/fixops/report.css linked (no inline style
or script: the strict CSP holds). PDF: the same HTML laid out by WeasyPrint, the same CSS
read from disk (`pdf.py`). CSV: one file, one table per section, each row led by its
section's name (layout in CSV_LAYOUT's docstring and docs/workspace.md).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string

from apps.workspace.reports import pdf

TEMPLATE = "workspace/report.html"
FORMATS = ("html", "pdf", "csv")
MEDIA_TYPES = {"html": "text/html", "pdf": "application/pdf", "csv": "text/csv"}


def to_html(document: dict[str, Any], *, for_pdf: bool = False) -> str:
    """The report as one HTML page."""
    return render_to_string(
        TEMPLATE, {"report": document, "for_pdf": for_pdf, "css": pdf.STYLESHEET}
    )


def to_pdf(document: dict[str, Any]) -> bytes:
    """The report as a PDF (WeasyPrint; nothing is fetched but our own stylesheet)."""
    return pdf.write_pdf(to_html(document, for_pdf=True))


# Columns of each list section: (section, path into the document, columns).
LISTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "top_risks",
        ("posture", "top_risks"),
        (
            "id",
            "title",
            "severity",
            "risk_score",
            "ssvc",
            "epss",
            "kev",
            "vuln_id",
            "component",
            "application",
            "status",
            "due_at",
        ),
    ),
    (
        "applications",
        ("applications",),
        ("id", "name", "open", "critical", "high", "kev", "overdue", "max_risk"),
    ),
    (
        "sla_overdue",
        ("sla", "overdue"),
        ("id", "title", "severity", "due_at", "kev", "ssvc", "application", "status"),
    ),
    (
        "sla_due_soon",
        ("sla", "due_soon"),
        ("id", "title", "severity", "due_at", "kev", "ssvc", "application", "status"),
    ),
    *(
        (
            f"exceptions_{state}",
            ("exceptions", state),
            (
                "id",
                "scope",
                "target",
                "application",
                "status",
                "justification",
                "requested_by",
                "requested_at",
                "approver",
                "reviewed_at",
                "expires_at",
            ),
        )
        for state in ("active", "pending", "expired")
    ),
    (
        "decisions",
        ("decisions", "recent"),
        (
            "id",
            "created_at",
            "application",
            "outcome",
            "confidence",
            "commit",
            "branch",
            "policy",
            "reasons",
        ),
    ),
    (
        "evidence",
        ("evidence",),
        (
            "decision_id",
            "bundle_id",
            "status",
            "envelope_digest",
            "payload_digest",
            "keyid",
            "algorithm",
            "verify_url",
            "bundle_url",
        ),
    ),
)


def to_csv(document: dict[str, Any]) -> str:
    """CSV_LAYOUT: every row starts with its section's name. A section opens with its header
    row (first cell `section`), then its rows; a blank row separates sections. `summary`
    holds the figures (measure, value); `listed` says, per list section, how many rows it
    shows and how many there are."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    sections = [("summary", ("measure", "value"), list(_summary(document)))]
    listed = []
    for name, path, columns in LISTS:
        table = _get(document, path)
        if table is None:
            continue  # the applications list is the tenant report's only
        rows = table["rows"]
        sections.append((name, columns, [[row.get(c) for c in columns] for row in rows]))
        listed.append([name, len(rows), table.get("total", len(rows))])
    sections.append(("listed", ("list", "rows", "total"), listed))
    for index, (name, columns, rows) in enumerate(sections):
        if index:
            writer.writerow([])
        writer.writerow(["section", *columns])
        for row in rows:
            writer.writerow([name, *(_cell(v) for v in row)])
    return out.getvalue()


def _summary(document: dict[str, Any]) -> Iterator[list[Any]]:
    yield ["report", document["kind"]]
    yield ["tenant", document["tenant"]["slug"]]
    if document["application"]:
        yield ["application", document["application"]["name"]]
    yield ["as_of", document["as_of"]]
    posture = document["posture"]
    yield ["open", posture["open"]]
    yield ["risk_accepted", posture["accepted"]]
    for severity, n in posture["by_severity"].items():
        yield [f"severity:{severity}", n]
    for decision, n in posture["by_ssvc"].items():
        yield [f"ssvc:{decision}", n]
    for name, n in posture["kev"].items():
        yield [f"kev:{name}", n]
    sla = document["sla"]
    for state, n in sla["by_state"].items():
        yield [f"sla:{state}", n]
    yield ["sla:on_time_percent", sla["on_time_percent"]]
    yield ["sla:due_soon_days", sla["due_soon_days"]]
    for name, n in document["exceptions"]["counts"].items():
        yield [f"exceptions:{name}", n]
    decisions = document["decisions"]
    yield ["decisions:window_days", decisions["window_days"]]
    for outcome, n in decisions["by_outcome"].items():
        yield [f"decisions:{outcome}", n]


def _get(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for key in path:
        node = node.get(key) if node else None
    return node


# A cell a spreadsheet would run as a formula (titles come from scanner reports): quoted.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def filename(document: dict[str, Any], fmt: str) -> str:
    """`fixops-report-<tenant>[-<application>]-<YYYY-MM-DD>.<fmt>`, ASCII letters, digits
    and dashes only (a name from the database never reaches the header as typed)."""
    parts = [document["tenant"]["slug"]]
    if document["application"]:
        parts.append(document["application"]["name"])
    stem = "-".join(_slug(p) for p in parts if _slug(p))
    return f"fixops-report-{stem}-{document['as_of']:%Y-%m-%d}.{fmt}"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()[:60]


def content_disposition(document: dict[str, Any], fmt: str) -> str:
    """`inline` for HTML (read in the browser), `attachment` for the files."""
    kind = "inline" if fmt == "html" else "attachment"
    return f'{kind}; filename="{filename(document, fmt)}"'
