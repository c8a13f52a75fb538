"""Turn one parsed report into findings, occurrences and components, in bulk.

Called inside the upload's transaction (a bad file stores nothing). The statement count is
independent of the number of results: keys are computed in memory, the application's existing
findings are read in one query, and findings are written by apps/findings/writer.py.

Re-import rule (a scan stream is application + tool + branch + target, the target being the
scan's `target` field, else what the report says it scanned, normalised by
apps/findings/targets.py): an occurrence of a stream that the new scan of that stream no
longer reports is retracted; a finding whose occurrences are all retracted becomes FIXED
(pending verification) with the time and the scan that closed it. A finding reported again
while FIXED or VERIFIED is REOPENED. If any result of the report was
skipped as unreadable (ParseIssue.lost_finding), nothing is closed: a finding the parser could
not read is not fixed. Warnings about kept data do not stop closure. A named scan of a stream
older than targets adopts it first (apps/findings/streams.py). What became of every result
(findings, lost, suppressed) is counted by apps/findings/counts.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import BinaryIO, TypeVar

from django.conf import settings

from apps.findings.counts import import_counts, skipped_entries
from apps.findings.dedup import (
    Keyed,
    assign_keys,
    noise_summary,
    normalise_vuln_id,
    primary_vuln_id,
)
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Component, Occurrence, Scan
from apps.findings.models.finding import SEVERITY_RANK, FindingStatus
from apps.findings.outcome import SKIPPED_KEPT, Outcome
from apps.findings.parsers.base import Component as ParsedComponent
from apps.findings.parsers.base import NormalizedFinding, Parser, input_limits
from apps.findings.parsers.content import content_digest
from apps.findings.repeat import repeat, repeatable, repeated_scan
from apps.findings.rows import NewFinding, SeenOccurrence
from apps.findings.streams import streams_pending, streams_seen
from apps.findings.targets import normalise
from apps.findings.writer import FindingWriter
from fixops.platform import bulk
from fixops.platform.errors import TooLarge

logger = logging.getLogger(__name__)

VEX_DISMISSED = frozenset({"not_affected", "false_positive"})
T = TypeVar("T")


def _clip(value: str | None, length: int) -> str:
    return (value or "")[:length]


def _vuln_ids(ids: tuple[str, ...]) -> tuple[str, list[str]]:
    """The id the dedup key used (CVE preferred) and the other aliases, normalised."""
    primary = primary_vuln_id(ids)
    aliases = dict.fromkeys(normalise_vuln_id(i) for i in ids if i)
    return primary, [i for i in aliases if i != primary]


def ingest_report(
    *, scan: Scan, parser: Parser, stream: BinaryIO, tool_override: str = ""
) -> Outcome:
    """Parse `stream` with `parser` and apply it to `scan`'s application. Caller holds the
    transaction and the application's lock; ParseError propagates (and rolls back)."""
    timer = _PhaseTimer()
    digest, repeated = _repeat_if_unchanged(scan, parser, stream, tool_override)
    if repeated is not None:
        return repeated
    timer.lap("digest")
    with input_limits(max_depth=settings.FIXOPS_MAX_INPUT_DEPTH):
        result = parser.parse(stream)
        budget = _ResultBudget(settings.FIXOPS_UPLOAD_MEMORY_MB)
        results = budget.take(result.findings)
        components = budget.take(result.components)
    tool_name = tool_override or result.tool_name or parser.format
    if tool_override:
        results = [_with_tool(nf, tool_override) for nf in results]
    timer.lap("parse")
    keyed = assign_keys(results)
    timer.lap("dedup")
    # The import is audited as one row with its counts (scan_finish), not per finding.
    writer = FindingWriter(
        cause=f"scan{scan.pk}", actor=f"scan:{scan.pk}", scan_id=scan.pk, audit=False
    )
    groups = _group_by_key(keyed)
    counts = {
        "results": len(results),
        "findings_new": 0,
        "findings_existing": 0,
        "findings_closed": 0,
        "findings_reopened": 0,
        "duplicates_collapsed": 0,
    }
    streams = {_clip(nf.tool, 100) for nf in results} | {_clip(tool_name, 100)}
    # The caller's target verbatim, else what the report says it scanned.
    scan.target = scan.target or normalise(result.target)
    pending = streams_pending(scan=scan, tools=streams, target=scan.target, writer=writer)
    finding_ids = _upsert_findings(writer, scan, groups, counts)
    timer.lap("findings")
    streams_seen(scan=scan, tools=streams, target=scan.target, writer=writer)
    unseen = _upsert_occurrences(writer, scan, groups, finding_ids)
    writer.settle(pending)  # before retraction: what this scan no longer reports was seen till now
    timer.lap("occurrences")
    lost = any(issue.lost_finding for issue in result.skipped)
    seen = set(finding_ids.values())
    if not lost:
        counts["findings_closed"] = _close_missing(writer, scan, unseen, streams, seen)
    timer.lap("close")
    counts["components"] = _upsert_components(scan, components, writer.now)
    timer.lap("components")
    noise = {**noise_summary(keyed), "streams": len(streams), "timings_ms": timer.laps}
    kept_unseen = sum(1 for _, fid, tool in unseen if tool in streams and fid in seen)
    if not repeatable(
        lost=lost,
        vex_dismissed=counts.pop("vex_dismissed"),
        components=counts["components"],
        kept_unseen=kept_unseen,
    ):
        digest = ""
    counts["duplicates_collapsed"] = noise["duplicates_collapsed"]
    skipped = skipped_entries(result.skipped)
    noise["skipped_listed"] = min(len(skipped), SKIPPED_KEPT)
    suppressed = sum(1 for nf in results if nf.suppressed or nf.vex_state in VEX_DISMISSED)
    counts.update(import_counts(result.skipped, imported=len(results), suppressed=suppressed))
    logger.info("scan %s imported: %s; phases (ms) %s", scan.pk, counts, timer.laps)
    changes = writer.changes(scan.tenant_id)
    only_reopened = changes.reopened and not changes.closed
    # A reopened finding's ticket may have been closed as fixed by a person: the scan wins,
    # and the comment on the reopened ticket says why.
    stream = " on ".join(p for p in (tool_name or scan.tool_name, scan.branch) if p)
    comment = f"FixOps scan {scan.pk}{f' ({stream})' if stream else ''}: " + (
        "still reports this finding, so it is reopened; a fix is verified only when no scan"
        " reports it any more"
        if only_reopened
        else "status changed by a new scan"
    )
    return Outcome(
        finding_ids=sorted(finding_ids.values()),
        counts=counts,
        noise=noise,
        skipped=skipped,
        tool_name=tool_name,
        tool_version=result.tool_version,
        target=scan.target,
        events=writer.finish(comment=comment),
        content_digest=digest,
    )


def _repeat_if_unchanged(
    scan: Scan, parser: Parser, stream: BinaryIO, tool_override: str
) -> tuple[str, Outcome | None]:
    """The report's content digest ("" if it has none) and, when an earlier scan with that
    content may be repeated, the outcome of repeating it (apps/findings/repeat.py)."""
    if not settings.FIXOPS_REPEAT_SCANS:
        return "", None
    # The caller's target and branch and how paths resolve are part of what the report says.
    context = (repr(parser.paths), tool_override, scan.target, scan.branch)
    digest = content_digest(stream, parser, context=context) or ""
    earlier = repeated_scan(scan, digest) if digest else None
    return digest, (repeat(scan, *earlier, digest=digest) if earlier is not None else None)


# What one parsed result costs an import until commit (the parsed result, its key, its group,
# its finding and occurrence rows), measured at ~2 KiB with minimal gitleaks findings; twice
# that keeps a report at the cap under FIXOPS_UPLOAD_MEMORY_MB with the process's own margin.
RESULT_COST_BYTES = 4 * 1024


class _ResultBudget:
    """The results and components one upload may hold, from FIXOPS_UPLOAD_MEMORY_MB: a report
    dense enough to pass it is refused (413) while it is read, before it costs the ceiling."""

    def __init__(self, memory_mb: int) -> None:
        self.limit = memory_mb * 1024 * 1024 // RESULT_COST_BYTES
        self.taken = 0

    def take(self, items: Iterable[T]) -> list[T]:
        kept: list[T] = []
        for item in items:
            self.taken += 1
            if self.taken > self.limit:
                raise TooLarge(
                    f"The report holds more than {self.limit} results and components, the most "
                    "one upload may import within FIXOPS_UPLOAD_MEMORY_MB; split it (by target "
                    "or directory) or raise FIXOPS_UPLOAD_MEMORY_MB.",
                    code="too_many_results",
                    details={"limit": self.limit, "setting": "FIXOPS_UPLOAD_MEMORY_MB"},
                )
            kept.append(item)
        return kept


class _PhaseTimer:
    """Milliseconds per import phase, stored with the scan's noise figures for operators."""

    def __init__(self) -> None:
        self.laps: dict[str, int] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._last) * 1000)
        self._last = now


def _with_tool(nf: NormalizedFinding, tool: str) -> NormalizedFinding:
    return replace(nf, tool=tool)


def _group_by_key(keyed: list[Keyed]) -> dict[str, list[Keyed]]:
    groups: dict[str, list[Keyed]] = defaultdict(list)
    for item in keyed:
        groups[item.dedup_key].append(item)
    return groups


def _new_status(group: list[Keyed]) -> str:
    findings = [k.finding for k in group]
    if any(nf.vex_state in VEX_DISMISSED for nf in findings):
        return FindingStatus.FALSE_POSITIVE
    if all(nf.suppressed for nf in findings):
        # Suppressed in source (e.g. nosec): recorded, visible and filterable, not open work.
        return FindingStatus.FALSE_POSITIVE
    return FindingStatus.OPEN


def _new_finding(scan: Scan, key: str, group: list[Keyed]) -> NewFinding:
    first = group[0]
    nf = first.finding
    severity = max((k.finding.severity for k in group), key=lambda s: SEVERITY_RANK.get(s, 0))
    vuln_id, aliases = _vuln_ids(tuple(i for k in group for i in k.finding.vuln_ids))
    component = nf.component
    return NewFinding(
        tenant_id=scan.tenant_id,
        application_id=scan.application_id,
        dedup_key=key,
        dedup_strategy=first.strategy,
        kind=nf.kind,
        status=_new_status(group),
        severity=severity,
        tool=nf.tool,
        rule_id=nf.rule_id,
        title=nf.title or nf.rule_id,
        message=nf.message,
        cwe=min(nf.cwes) if nf.cwes else None,
        vuln_id=vuln_id,
        aliases=aliases,
        component_purl=component.purl if component else "",
        component_name=component.name if component else "",
        component_version=component.version if component else "",
        fixed_versions=list(nf.fixed_versions),
        path=nf.path,
        line=nf.start_line,
        resource=nf.resource,
        cvss=[
            {"version": c.version, "vector": c.vector, "score": c.score, "source": c.source}
            for c in nf.cvss
        ],
        vex_state=nf.vex_state,
        vex_justification=nf.vex_justification,
    )


def _upsert_findings(
    writer: FindingWriter, scan: Scan, groups: dict[str, list[Keyed]], counts
) -> dict[str, int]:
    app = scan.application_id
    units = dict.fromkeys(((app, key) for key in groups), scan.tenant_id)
    existing = writer.existing(units)
    ids = writer.upsert(
        units,
        build=lambda unit: _new_finding(scan, unit[1], groups[unit[1]]),
        reopen_reason="reported again",
        existing=existing,
    )
    # Rare: look only at the keys a VEX statement dismisses, not at every group.
    vex_dismissed = {
        key for key, group in groups.items() for k in group if k.finding.vex_state in VEX_DISMISSED
    }
    dismissed = [
        existing[(app, key)]
        for key in sorted(vex_dismissed)
        if (app, key) in existing and existing[(app, key)][1] in ACTIVE
    ]
    writer.set_status(
        dismissed,
        FindingStatus.FALSE_POSITIVE,
        reason="VEX statement: not affected / false positive",
        tenant_id=scan.tenant_id,
    )
    changes = writer.changes(scan.tenant_id)
    counts["vex_dismissed"] = len(vex_dismissed)  # popped by the caller: not a scan count
    counts["findings_new"] = len(units) - len(existing)
    counts["findings_existing"] = len(existing)
    counts["findings_reopened"] = len(changes.reopened)
    return {key: pk for (_, key), pk in ids.items()}


def _upsert_occurrences(
    writer: FindingWriter, scan: Scan, groups, finding_ids: dict[str, int]
) -> list[tuple[int, int, str]]:
    """Write this scan's sightings; returns its streams' live occurrences it did not see."""
    # One occurrence per (finding, tool) in this scan: the first result of that tool wins.
    latest: dict[tuple[int, str], NormalizedFinding] = {}
    for key, group in groups.items():
        for item in group:
            latest.setdefault((finding_ids[key], _clip(item.finding.tool, 100)), item.finding)
    seen = {
        unit: SeenOccurrence(
            rule_id=nf.rule_id,
            path=nf.path,
            line=nf.start_line,
            fingerprints=nf.fingerprints,
            suppressed=nf.suppressed,
            suppression=nf.suppression,
            baseline_state=nf.baseline_state,
            original_path=nf.original_path,
        )
        for unit, nf in latest.items()
    }
    return writer.occurrences(
        seen,
        tenant_id=scan.tenant_id,
        application_of=dict.fromkeys(finding_ids.values(), scan.application_id),
        branch=scan.branch,
        target=scan.target,
    )


def _close_missing(
    writer: FindingWriter,
    scan: Scan,
    unseen: list[tuple[int, int, str]],
    streams: set[str],
    seen: set[int],
) -> int:
    """Retract the live occurrences of the report's streams whose finding it no longer
    reports (under any of its tools), closing the findings left with none. `unseen` comes
    from writing the sightings; a report without any reads them here."""
    if not seen:
        unseen = list(
            Occurrence.objects.filter(
                application_id=scan.application_id,
                branch=scan.branch,
                target=scan.target,
                retracted_at__isnull=True,
            ).values_list("id", "finding_id", "tool")
        )
    gone = [(pk, fid) for pk, fid, tool in unseen if tool in streams and fid not in seen]
    return writer.retract(gone, reason="no longer reported by any scan stream")


COMPONENT_FIELDS = (
    "tenant_id",
    "application_id",
    "identity",
    "purl",
    "name",
    "version",
    "type",
    "cpe",
    "licenses",
    "depends_on",
    "first_scan_id",
    "last_scan_id",
    "last_seen",
)


def _component_identity(component: ParsedComponent) -> str:
    return hashlib.sha256(
        json.dumps([component.purl, component.name, component.version]).encode()
    ).hexdigest()


def _upsert_components(scan: Scan, components: list[ParsedComponent], now) -> int:
    if not components:
        return 0
    by_ref = {c.ref: c for c in components if c.ref}
    unique: dict[str, ParsedComponent] = {}
    for component in components:
        unique.setdefault(_component_identity(component), component)
    existing = dict(
        Component.objects.filter(application_id=scan.application_id).values_list("identity", "id")
    )
    inserts = []
    for identity, c in unique.items():
        if identity in existing:
            continue
        deps = [by_ref[r].purl or by_ref[r].name for r in c.depends_on if r in by_ref]
        inserts.append(
            (
                scan.tenant_id,
                scan.application_id,
                identity,
                _clip(c.purl, 1000),
                _clip(c.name, 500),
                _clip(c.version, 200),
                _clip(c.type, 40),
                _clip(c.cpe, 500),
                list(c.licenses),
                deps,
                scan.pk,
                scan.pk,
                now,
            )
        )
    bulk.insert_rows(Component, COMPONENT_FIELDS, inserts)
    seen = [existing[i] for i in unique if i in existing]
    bulk.update_by_ids(Component, seen, last_scan_id=scan.pk, last_seen=now)
    return len(unique)
