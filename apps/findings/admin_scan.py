"""The scan admin's account of what was lost: the results an import could not read, shown as
a table on the scan's page and as a count (and filter) on the list."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.findings.counts import result_counts, skipped_groups
from apps.findings.models import Scan

SKIPPED_KINDS = {
    "lost": "lost (could not be read)",
    "warning": "warning",
    "suppressed": "no problem (the report says so)",
}


def lost_count_html(scan: Scan) -> str:
    """The list column: how many results the import lost, stressed when any were."""
    lost = result_counts(scan.counts)["lost"]
    if not lost:
        return "0"
    return format_html('<strong class="fixops-lost">{} lost</strong>', lost)


def results_short_text(scan: Scan) -> str:
    """The list column: results in, findings out, and those the report itself dismissed."""
    if not scan.counts:
        return "-"
    c = result_counts(scan.counts)
    suppressed = f", {c['suppressed']} suppressed" if c["suppressed"] else ""
    return f"{c['results']} → {c['findings']} findings{suppressed}"


def skipped_table_html(scan: Scan) -> SafeString | str:
    """The scan's skipped results grouped by kind, reason and message: count and where."""
    groups = skipped_groups(scan.skipped, scan.counts)
    if not groups["rows"]:
        return "None: every result of the report was read."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (SKIPPED_KINDS[row["kind"]], row["reason"], row["message"], row["count"], _where(row))
            for row in groups["rows"]
        ),
    )
    more = ""
    if groups["unlisted_lost"]:
        more = format_html(
            "<p>{} more lost results were counted but not listed (the stored list is capped).</p>",
            groups["unlisted_lost"],
        )
    return format_html(
        '<table class="fixops-skipped"><thead><tr><th>kind</th><th>reason</th><th>message</th>'
        "<th>count</th><th>where in the report</th></tr></thead><tbody>{}</tbody></table>{}",
        rows,
        more,
    )


def _where(row: dict) -> str:
    shown = ", ".join(row["pointers"])
    extra = row["count"] - len(row["pointers"])
    if not shown:
        return "(the whole report)"
    return f"{shown} and {extra} more" if extra > 0 else shown


class LostResultsFilter(admin.SimpleListFilter):
    title = "lost results"
    parameter_name = "lost"

    def lookups(self, request, model_admin):
        return (("yes", "Some lost"), ("no", "None lost"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(counts__lost__gt=0)
        if self.value() == "no":
            return queryset.exclude(counts__lost__gt=0)
        return queryset
