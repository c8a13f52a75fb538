"""Turn one parsed report into findings, occurrences and components, in bulk.

Called inside the upload's transaction (a bad file stores nothing). The statement count is
independent of the number of results: keys are computed in memory, the application's existing
findings are read in one query, and writes go through fixops.platform.bulk.

Re-import rule (a scan stream is application + tool + branch): an occurrence of a stream that
the new scan of that stream no longer reports is retracted; a finding whose occurrences are
all retracted becomes FIXED (pending verification) with the time and the scan that closed it.
A finding reported again while FIXED or VERIFIED is REOPENED. If any result of the report was
skipped as unreadable (ParseIssue.lost_finding), nothing is closed: a finding the parser could
not read is not fixed. Warnings about kept data do not stop closure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from django.db.models import F
from django.utils import timezone

from apps.findings.dedup import (
    Keyed,
    assign_keys,
    noise_summary,
    normalise_vuln_id,
    primary_vuln_id,
)
from apps.findings.lifecycle import ACTIVE, CLOSED
from apps.findings.models import (
    Application,
    Component,
    Finding,
    FindingEvent,
    Occurrence,
    Scan,
)
from apps.findings.models.finding import SEVERITY_RANK, FindingStatus
from apps.findings.parsers.base import Component as ParsedComponent
from apps.findings.parsers.base import NormalizedFinding, Parser
from fixops.platform import bulk

logger = logging.getLogger(__name__)

VEX_DISMISSED = frozenset({"not_affected", "false_positive"})


@dataclass
class Outcome:
    counts: dict[str, int]
    noise: dict
    skipped: list[dict] = field(default_factory=list)
    tool_name: str = ""
    tool_version: str = ""
    finding_ids: list[int] = field(default_factory=list)
    # Finding ids whose status this import set (opened / reopened / closed), for the outbound
    # tickets of apps/connectors (queued by services._apply in the same transaction).
    changed: dict[str, list[int]] = field(default_factory=dict)


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
    transaction; ParseError propagates (and rolls everything back)."""
    timer = _PhaseTimer()
    Application.objects.select_for_update().filter(pk=scan.application_id).first()
    result = parser.parse(stream)
    results = list(result.findings)
    components = list(result.components)
    tool_name = tool_override or result.tool_name or parser.format
    if tool_override:
        results = [_with_tool(nf, tool_override) for nf in results]
    timer.lap("parse")
    keyed = assign_keys(results)
    timer.lap("dedup")
    now = timezone.now()
    groups = _group_by_key(keyed)
    counts = {
        "results": len(results),
        "findings_new": 0,
        "findings_existing": 0,
        "findings_closed": 0,
        "findings_reopened": 0,
        "duplicates_collapsed": 0,
    }

    changed: dict[str, list[int]] = {"opened": [], "reopened": [], "closed": []}
    finding_ids = _upsert_findings(scan, groups, now, counts, changed)
    timer.lap("findings")
    streams = {nf.tool for nf in results} | {tool_name}
    _upsert_occurrences(scan, groups, finding_ids, now)
    timer.lap("occurrences")
    if not any(issue.lost_finding for issue in result.skipped):
        counts["findings_closed"] = _close_missing(
            scan, streams, set(finding_ids.values()), now, changed
        )
    timer.lap("close")
    counts["components"] = _upsert_components(scan, components, now)
    timer.lap("components")
    noise = {**noise_summary(keyed), "timings_ms": timer.laps}
    counts["duplicates_collapsed"] = noise["duplicates_collapsed"]
    logger.info("scan %s imported: %s; phases (ms) %s", scan.pk, counts, timer.laps)
    skipped = [
        {"pointer": s.pointer, "message": s.message, "lost_finding": s.lost_finding}
        for s in result.skipped
    ]
    counts["skipped"] = sum(1 for s in result.skipped if s.lost_finding)
    counts["warnings"] = len(skipped) - counts["skipped"]
    return Outcome(
        finding_ids=sorted(finding_ids.values()),
        counts=counts,
        noise=noise,
        skipped=skipped,
        tool_name=tool_name,
        tool_version=result.tool_version,
        changed=changed,
    )


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


FINDING_FIELDS = (
    "tenant_id",
    "application_id",
    "dedup_key",
    "dedup_strategy",
    "kind",
    "status",
    "severity",
    "tool",
    "rule_id",
    "title",
    "message",
    "cwe",
    "vuln_id",
    "aliases",
    "component_purl",
    "component_name",
    "component_version",
    "fixed_versions",
    "path",
    "line",
    "resource",
    "cvss",
    "vex_state",
    "vex_justification",
    "first_seen",
    "last_seen",
    "first_scan_id",
    "last_scan_id",
    "reopen_count",
    "updated_at",
    "risk_explanation",
    "ssvc",
    "kev",
)


def _finding_row(scan: Scan, key: str, group: list[Keyed], now) -> tuple:
    first = group[0]
    nf = first.finding
    severity = max((k.finding.severity for k in group), key=lambda s: SEVERITY_RANK.get(s, 0))
    vuln_id, aliases = _vuln_ids(tuple(i for k in group for i in k.finding.vuln_ids))
    component = nf.component
    return (
        scan.tenant_id,
        scan.application_id,
        key,
        first.strategy,
        nf.kind,
        _new_status(group),
        severity,
        _clip(nf.tool, 100),
        _clip(nf.rule_id, 500),
        _clip(nf.title or nf.rule_id, 1000),
        nf.message[:20_000],
        min(nf.cwes) if nf.cwes else None,
        _clip(vuln_id, 100),
        aliases,
        _clip(component.purl if component else "", 1000),
        _clip(component.name if component else "", 500),
        _clip(component.version if component else "", 200),
        list(nf.fixed_versions),
        _clip(nf.path, 2000),
        nf.start_line,
        _clip(nf.resource, 1000),
        [
            {"version": c.version, "vector": c.vector, "score": c.score, "source": c.source}
            for c in nf.cvss
        ],
        _clip(nf.vex_state, 40),
        _clip(nf.vex_justification, 100),
        now,
        now,
        scan.pk,
        scan.pk,
        0,
        now,
        {},  # risk_explanation, ssvc, kev: filled by the risk refresh after import
        "",
        False,
    )


def _upsert_findings(
    scan: Scan, groups: dict[str, list[Keyed]], now, counts, changed: dict[str, list[int]]
) -> dict[str, int]:
    existing = {
        key: (pk, status)
        for key, pk, status in Finding.objects.filter(
            tenant_id=scan.tenant_id, application_id=scan.application_id
        ).values_list("dedup_key", "id", "status")
    }
    new_keys = [key for key in groups if key not in existing]
    bulk.insert_rows(
        Finding, FINDING_FIELDS, (_finding_row(scan, key, groups[key], now) for key in new_keys)
    )
    existing_status = {pk: status for pk, status in existing.values()}
    seen_ids = [existing[key][0] for key in groups if key in existing]
    reopen = [existing[key][0] for key in groups if key in existing and existing[key][1] in CLOSED]
    dismissed = [
        existing[key][0]
        for key in groups
        if key in existing
        and existing[key][1] in ACTIVE
        and any(k.finding.vex_state in VEX_DISMISSED for k in groups[key])
    ]
    bulk.update_by_ids(Finding, seen_ids, last_seen=now, last_scan_id=scan.pk, updated_at=now)
    bulk.update_by_ids(
        Finding,
        reopen,
        status=FindingStatus.REOPENED,
        closed_at=None,
        closed_by_scan_id=None,
        reopen_count=F("reopen_count") + 1,
    )
    bulk.update_by_ids(Finding, dismissed, status=FindingStatus.FALSE_POSITIVE)
    _record_events(
        scan,
        now,
        [(pk, existing_status[pk], FindingStatus.REOPENED) for pk in reopen],
        reason="reported again",
    )
    _record_events(
        scan,
        now,
        [(pk, existing_status[pk], FindingStatus.FALSE_POSITIVE) for pk in dismissed],
        reason="VEX statement: not affected / false positive",
    )
    counts["findings_new"] = len(new_keys)
    counts["findings_existing"] = len(seen_ids)
    counts["findings_reopened"] = len(reopen)
    ids = {key: pk for key, (pk, _) in existing.items() if key in groups}
    if new_keys:
        ids.update(
            Finding.objects.filter(
                tenant_id=scan.tenant_id, application_id=scan.application_id, first_scan_id=scan.pk
            ).values_list("dedup_key", "id")
        )
    changed["opened"] = [ids[key] for key in new_keys]
    changed["reopened"] = reopen
    changed["closed"] = dismissed
    return ids


OCCURRENCE_FIELDS = (
    "tenant_id",
    "application_id",
    "finding_id",
    "tool",
    "branch",
    "rule_id",
    "path",
    "line",
    "fingerprints",
    "suppressed",
    "suppression",
    "baseline_state",
    "first_scan_id",
    "last_scan_id",
    "last_seen",
)
OCCURRENCE_UPDATE = (
    "rule_id",
    "path",
    "line",
    "fingerprints",
    "suppressed",
    "suppression",
    "baseline_state",
    "last_scan_id",
    "last_seen",
    "retracted_at",
    "retracted_by_scan_id",
)


def _upsert_occurrences(scan: Scan, groups, finding_ids: dict[str, int], now) -> None:
    # One occurrence per (finding, tool) in this scan: the first result of that tool wins.
    latest: dict[tuple[int, str], NormalizedFinding] = {}
    for key, group in groups.items():
        for item in group:
            latest.setdefault((finding_ids[key], _clip(item.finding.tool, 100)), item.finding)
    existing = {
        (finding_id, tool): pk
        for pk, finding_id, tool in Occurrence.objects.filter(
            application_id=scan.application_id, branch=scan.branch
        ).values_list("id", "finding_id", "tool")
    }
    inserts, updates = [], []
    for (finding_id, tool), nf in latest.items():
        values = (
            _clip(nf.rule_id, 500),
            _clip(nf.path, 2000),
            nf.start_line,
            nf.fingerprints,
            nf.suppressed,
            _clip(nf.suppression, 500),
            _clip(nf.baseline_state, 20),
        )
        if (finding_id, tool) in existing:
            updates.append((existing[(finding_id, tool)], *values, scan.pk, now, None, None))
        else:
            inserts.append(
                (
                    scan.tenant_id,
                    scan.application_id,
                    finding_id,
                    tool,
                    scan.branch,
                    *values,
                    scan.pk,
                    scan.pk,
                    now,
                )
            )
    bulk.insert_rows(Occurrence, OCCURRENCE_FIELDS, inserts)
    bulk.update_rows(Occurrence, OCCURRENCE_UPDATE, updates)


def _close_missing(
    scan: Scan, streams: set[str], seen_finding_ids: set[int], now, changed: dict[str, list[int]]
) -> int:
    active = Occurrence.objects.filter(
        application_id=scan.application_id,
        branch=scan.branch,
        tool__in=sorted(streams),
        retracted_at__isnull=True,
    ).values_list("id", "finding_id")
    gone = [(pk, finding_id) for pk, finding_id in active if finding_id not in seen_finding_ids]
    if not gone:
        return 0
    bulk.update_by_ids(
        Occurrence, [pk for pk, _ in gone], retracted_at=now, retracted_by_scan_id=scan.pk
    )
    candidates = sorted({finding_id for _, finding_id in gone})
    still_reported = {
        finding_id
        for (finding_id,) in bulk.values_for_ids(
            Occurrence.objects.filter(retracted_at__isnull=True),
            "finding_id",
            candidates,
            "finding_id",
        )
    }
    closing = [
        (pk, status)
        for pk, status in bulk.values_for_ids(
            Finding.objects.all(), "id", candidates, "id", "status"
        )
        if status in ACTIVE and pk not in still_reported
    ]
    to_close = [pk for pk, _ in closing]
    changed["closed"] = changed["closed"] + to_close
    _record_events(
        scan,
        now,
        [(pk, status, FindingStatus.FIXED) for pk, status in closing],
        reason="no longer reported by any scan stream",
    )
    bulk.update_by_ids(
        Finding,
        to_close,
        status=FindingStatus.FIXED,
        closed_at=now,
        closed_by_scan_id=scan.pk,
        updated_at=now,
    )
    return len(to_close)


EVENT_FIELDS = (
    "tenant_id",
    "finding_id",
    "from_status",
    "to_status",
    "actor",
    "scan_id",
    "reason",
    "created_at",
)


def _record_events(scan: Scan, now, changes: list[tuple[int, str, str]], reason: str = "") -> None:
    """One FindingEvent per status change an import makes, in the import's transaction."""
    bulk.insert_rows(
        FindingEvent,
        EVENT_FIELDS,
        (
            (scan.tenant_id, pk, old, new, f"scan:{scan.pk}", scan.pk, reason, now)
            for pk, old, new in changes
        ),
    )


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
