"""What became of every result of a report: a finding, lost, or suppressed (docs/ingestion.md).

- `lost`: a result that could have been a finding but could not be read (a parser's
  `ParseIssue.lost_finding`); listed in the scan's `skipped` with its pointer and reason.
  A scan that lost results closes nothing, and the gate reviews it (policy pack FX-LOST-RESULTS,
  confidence factor "lost").
- `suppressed`: a result the report itself says is no open problem: suppressed in source or
  externally, dismissed by a VEX statement (imported, as false_positive findings), or a SARIF
  result of kind pass/notApplicable/informational (no finding; listed in `skipped`).
- `results` = every result of the report = findings + lost + suppressed, where `findings`
  counts the results that became open findings (before duplicates collapse).
- `skipped` is the former name of `lost`, kept for one version as an alias (same number).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.findings.parsers.base import Issues, ParseIssue

POINTERS_SHOWN = 5  # per group of skipped results on the scan page


def import_counts(issues: Iterable[ParseIssue], *, imported: int, suppressed: int) -> dict:
    """The counts of an import: `imported` results were written as findings, `suppressed` of
    them suppressed ones; `issues` are the parser's skipped results and warnings."""
    lost = not_findings = warnings = 0
    for issue in issues:
        if issue.lost_finding:
            lost += 1
        elif issue.suppressed:
            not_findings += 1
        else:
            warnings += 1
    if isinstance(issues, Issues):  # the issues past the kept ones were only counted
        lost += issues.overflow["lost"]
        not_findings += issues.overflow["suppressed"]
        warnings += issues.overflow["warnings"]
    return {
        "results": imported + lost + not_findings,
        "lost": lost,
        "suppressed": suppressed + not_findings,
        "skipped": lost,
        "warnings": warnings,
    }


def skipped_entries(issues: Iterable[ParseIssue]) -> list[dict[str, Any]]:
    """The scan's `skipped` list: lost results first, then warnings, then suppressed results,
    so a capped list never hides a lost one behind hundreds of "pass" results.
    `lost_finding` repeats `lost` for the clients that read it before."""
    entries = [
        {
            "pointer": issue.pointer,
            "reason": issue.reason or ("lost" if issue.lost_finding else "warning"),
            "message": issue.message,
            "lost": issue.lost_finding,
            "suppressed": issue.suppressed,
            "lost_finding": issue.lost_finding,
        }
        for issue in issues
    ]
    entries.sort(key=lambda e: 0 if e["lost"] else 2 if e["suppressed"] else 1)
    return entries


def result_counts(counts: dict[str, Any] | None) -> dict[str, int]:
    """{results, findings, lost, suppressed} of a scan's stored counts.

    Scans imported before `lost` existed stored `skipped` (the same number) and counted only
    the imported results in `results`; both readings give the same figures."""
    counts = counts or {}
    if "lost" in counts:
        lost = int(counts["lost"] or 0)
        results = int(counts.get("results") or 0)
    else:
        lost = int(counts.get("skipped") or 0)
        results = int(counts.get("results") or 0) + lost
    suppressed = int(counts.get("suppressed") or 0)
    return {
        "results": results,
        "findings": max(results - lost - suppressed, 0),
        "lost": lost,
        "suppressed": suppressed,
    }


def skipped_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored `skipped` entry in the current shape (older ones have only `lost_finding`)."""
    lost = bool(entry.get("lost", entry.get("lost_finding", False)))
    return {
        "reason": "lost" if lost else "warning",
        "suppressed": False,
        **entry,
        "lost": lost,
        "lost_finding": lost,
    }


def skipped_groups(skipped: list[dict[str, Any]] | None, counts: dict[str, Any] | None) -> dict:
    """A scan's `skipped` list for people: entries grouped by (kind, reason, message), lost
    results first, each with its count and first pointers; plus how many results were counted
    but not listed (the stored list is capped, the counts are not)."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    listed = {"lost": 0, "suppressed": 0}
    for raw in skipped or []:
        entry = skipped_entry(raw)
        kind = "lost" if entry["lost"] else "suppressed" if entry["suppressed"] else "warning"
        if kind in listed:
            listed[kind] += 1
        key = (kind, str(entry.get("reason") or ""), str(entry.get("message") or ""))
        group = groups.setdefault(
            key, {"kind": kind, "reason": key[1], "message": key[2], "count": 0, "pointers": []}
        )
        group["count"] += 1
        pointer = str(entry.get("pointer") or "")
        if pointer and len(group["pointers"]) < POINTERS_SHOWN:
            group["pointers"].append(pointer)
    order = {"lost": 0, "warning": 1, "suppressed": 2}
    rows = sorted(groups.values(), key=lambda g: (order[g["kind"]], -g["count"], g["reason"]))
    totals = result_counts(counts)
    return {
        "rows": rows,
        "lost": totals["lost"],
        "unlisted_lost": max(totals["lost"] - listed["lost"], 0),
    }
