"""Keep the "osv" stream's SCA findings in step with the matches (apps/intel/osv_match.py).

Each (application, dedup key) match becomes one SCA finding written through the findings
writer, exactly as a scanner's result of the same vulnerability and package would be (same key,
same hooks: FindingEvents, the `finding.changed` event that opens tickets, risk scoring). The
"osv" stream (tool "osv", branch "") holds one occurrence per finding; an occurrence no match
produced any more is retracted, and a finding left without live occurrences is FIXED.
Severity: the best CVSS base score of the advisories by the 9.0 / 7.0 / 4.0 / 0.1 bands; with no
usable vector, "medium" (a known vulnerability in a shipped package is work to look at).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from apps.findings.dedup import normalise_vuln_id, primary_vuln_id
from apps.findings.models import Occurrence
from apps.findings.models.finding import SEVERITY_RANK
from apps.findings.rows import NewFinding, SeenOccurrence
from apps.findings.vocabulary import cwe_number, severity_from_score
from apps.findings.writer import FindingWriter
from apps.intel.models import IntelEvent
from apps.intel.osv_store import advisory_cvss
from apps.intel.osv_versions import component_key
from fixops.platform import bulk

TOOL = "osv"
BRANCH = ""
ACTOR = "intel:osv"
DEFAULT_SEVERITY = "medium"
INTEL_EVENT_FIELDS = ("tenant_id", "kind", "vuln_id", "finding_id", "details", "created_at")


@dataclass(frozen=True, slots=True)
class Comp:
    """A component of an application's current inventory, keyed for OSV."""

    id: int
    tenant_id: int
    application_id: int
    purl: str
    name: str
    version: str
    type: str
    key: tuple[str, str]


@dataclass(slots=True)
class Match:
    """The advisories that affect one component (by OsvAdvisory pk) and their fixed versions."""

    comp: Comp
    advisories: dict[int, dict] = field(default_factory=dict)
    fixed: dict[str, None] = field(default_factory=dict)


def live_occurrences():
    """The live occurrences of the "osv" stream."""
    return Occurrence.objects.filter(tool=TOOL, branch=BRANCH, retracted_at__isnull=True)


def vuln_ids(advisory: dict) -> tuple[str, ...]:
    return (advisory["osv_id"], *advisory["aliases"])


def write_matches(
    writer: FindingWriter, matches: dict[tuple[int, str], Match], stats: Counter
) -> set[int]:
    """Create or refresh the findings and "osv" occurrences of the matches; returns the ids of
    the findings that are live in the "osv" stream."""
    if not matches:
        return set()
    units = {unit: match.comp.tenant_id for unit, match in matches.items()}
    existing = writer.existing(units)
    ids = writer.upsert(
        units,
        build=lambda unit: _new_finding(unit, matches[unit]),
        reopen_reason="matched again",
        existing=existing,
    )
    new = [unit for unit in matches if unit not in existing]
    seen = {
        (ids[unit], TOOL): SeenOccurrence(rule_id=min(a["osv_id"] for a in m.advisories.values()))
        for unit, m in matches.items()
    }
    writer.occurrences(
        seen,
        application_of={ids[unit]: unit[0] for unit in matches},
        branch=BRANCH,
        tool=TOOL,
    )
    bulk.insert_rows(
        IntelEvent,
        INTEL_EVENT_FIELDS,
        (_intel_event_row(matches[unit], ids[unit], writer.now) for unit in new),
    )
    tenants = set(units.values())
    reopened = sum(len(writer.changes(tenant).reopened) for tenant in tenants)
    stats["findings_new"] += len(new)
    stats["findings_existing"] += len(existing)
    stats["findings_reopened"] += reopened
    return set(ids.values())


def _new_finding(unit: tuple[int, str], match: Match) -> NewFinding:
    advisories = [match.advisories[pk] for pk in sorted(match.advisories, key=_by_osv_id(match))]
    first = advisories[0]
    ids = [i for a in advisories for i in vuln_ids(a)]
    vuln_id = primary_vuln_id(ids)
    aliases = [i for i in dict.fromkeys(normalise_vuln_id(i) for i in ids) if i != vuln_id]
    cvss = {c.vector: c for a in advisories for c in advisory_cvss(a["severity"])}
    text = next((a["summary"] for a in advisories if a["summary"]), "")
    cwes = [n for a in advisories for n in (cwe_number(c) for c in a["cwes"]) if n is not None]
    comp = match.comp
    return NewFinding(
        tenant_id=comp.tenant_id,
        application_id=unit[0],
        dedup_key=unit[1],
        dedup_strategy="sca",
        kind="sca",
        severity=max((_severity(a) for a in advisories), key=SEVERITY_RANK.__getitem__),
        tool=TOOL,
        rule_id=first["osv_id"],
        title=_title(text) or first["osv_id"],
        message=text,
        cwe=min(cwes) if cwes else None,
        vuln_id=vuln_id,
        aliases=aliases,
        component_purl=comp.purl,
        component_name=comp.name,
        component_version=comp.version,
        fixed_versions=list(match.fixed),
        cvss=[
            {"version": c.version, "vector": c.vector, "score": c.score, "source": c.source}
            for c in cvss.values()
        ],
    )


def _by_osv_id(match: Match):
    return lambda pk: match.advisories[pk]["osv_id"]


def _severity(advisory: dict) -> str:
    scores = [c.score for c in advisory_cvss(advisory["severity"]) if c.score is not None]
    return severity_from_score(max(scores)) if scores else DEFAULT_SEVERITY


def _title(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= 200 else line[:199].rstrip() + "…"


def _intel_event_row(match: Match, finding_id: int, now: datetime) -> tuple:
    advisory_ids = sorted(a["osv_id"] for a in match.advisories.values())
    vuln_id = primary_vuln_id(i for a in match.advisories.values() for i in vuln_ids(a))
    details = {
        "advisories": advisory_ids,
        "application_id": match.comp.application_id,
        "component": match.comp.purl,
        "version": match.comp.version,
    }
    return (
        match.comp.tenant_id,
        IntelEvent.Kind.ADVISORY_MATCHED,
        vuln_id[:64],
        finding_id,
        details,
        now,
    )


def retract_unmatched(
    writer: FindingWriter,
    applications: set[int] | None,
    units: set[tuple[int, tuple[str, str]]] | None,
    live: set[int],
    stats: Counter,
) -> None:
    """Retract the in-scope "osv" occurrences no match produced; close orphaned findings."""
    query = live_occurrences()
    if applications is not None:
        query = query.filter(application_id__in=sorted(applications))
    elif units is not None:
        apps = sorted({app for app, _ in units})
        if not apps:
            return
        query = query.filter(application_id__in=apps)
    gone = []
    for pk, finding_id, app, purl in query.values_list(
        "id", "finding_id", "application_id", "finding__component_purl"
    ):
        if finding_id in live:
            continue
        if units is not None:
            key = component_key(purl) if purl else None
            if key is None or (app, key[:2]) not in units:
                continue
        gone.append((pk, finding_id))
    if not gone:
        return
    stats["occurrences_retracted"] += len(gone)
    stats["findings_closed"] += writer.retract(gone, reason="no longer matched by any OSV advisory")
