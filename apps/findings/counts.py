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
