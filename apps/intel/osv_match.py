"""Match the component inventory against OSV advisories and keep SCA findings in step.

Keys: an OSV `affected[].package` and a component's purl meet on (purl type, package name
normalised as the registry compares names): PEP 503 for PyPI ("Jinja2", "jinja_2" -> "jinja2"),
lower case for registries whose names are case-insensitive (npm, NuGet, crates.io...), and the
namespace joined back into the name where OSV spells it there ("@scope/name" for npm,
"group:artifact" for Maven, the module path for Go). Components without a purl are not matched.

Versions: an advisory affects a component when the version string is in the advisory's explicit
`versions` list, or when a SEMVER/ECOSYSTEM range contains it. Ranges are evaluated as the OSV
specification's algorithm does (events sorted, "introduced" opens, "fixed" closes exclusive,
"last_affected" closes inclusive, versions at or above every "limit" are out) with `univers`
version classes: the ecosystem's class for ECOSYSTEM ranges (PypiVersion, MavenVersion...),
SemverVersion for SEMVER ranges, and univers' "generic" scheme class for unknown ecosystems.
A version that class cannot parse never matches a range and is counted, as are GIT ranges
(commit graphs are not evaluated) and ranges whose own events do not parse.

Inventory: ingestion keeps every component it ever saw, so the current inventory of an
application is, per SBOM stream (scan tool + branch, the stream rule of ingestion), the
components the stream's latest scan reported. A component an upgrade left behind therefore
stops matching, and its "osv" occurrence is retracted.

Findings: each (application, dedup key) match becomes one SCA finding whose key is exactly what
apps.findings.dedup computes for a scanner result of the same vulnerability and package, so a
trivy or grype report of the same CVE collapses into it. The "osv" scan stream (tool "osv",
branch "") holds one occurrence per finding. Matches are written in bulk; an occurrence the
stream no longer reports is retracted and a finding without live occurrences is FIXED, as
apps.findings.ingestion does for scan streams. Severity: the best CVSS base score of the
advisories by the 9.0 / 7.0 / 4.0 / 0.1 bands; with no usable vector, "medium" (a known
vulnerability in a shipped package is work to look at, and "info" would hide it).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.findings.dedup import dedup_key, normalise_vuln_id, primary_vuln_id
from apps.findings.lifecycle import ACTIVE, CLOSED
from apps.findings.models import Application, Component, Finding, FindingEvent, Occurrence, Scan
from apps.findings.models.finding import SEVERITY_RANK, FindingStatus
from apps.findings.parsers._sbom import cwe_number, severity_from_score
from apps.findings.parsers.base import Component as ParsedComponent
from apps.findings.parsers.base import NormalizedFinding
from apps.intel.models import IntelEvent, OsvAdvisory, OsvAffected
from apps.intel.osv_store import advisory_cvss
from apps.intel.osv_versions import (
    CompiledRange,
    compile_ranges,
    component_key,
    parse_version,
)
from fixops.platform import bulk

logger = logging.getLogger(__name__)

TOOL = "osv"
BRANCH = ""
ACTOR = "intel:osv"
DEFAULT_SEVERITY = "medium"
CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class _Comp:
    id: int
    tenant_id: int
    application_id: int
    purl: str
    name: str
    version: str
    type: str
    key: tuple[str, str]


@dataclass(slots=True)
class _Row:
    """One OsvAffected row, with its ranges compiled on first use."""

    advisory_id: int
    purl_type: str
    ranges: list
    versions: frozenset[str]
    fixed: list[str]
    compiled: list[CompiledRange] | None = None


@dataclass(slots=True)
class _Match:
    comp: _Comp
    advisories: dict[int, dict] = field(default_factory=dict)
    fixed: dict[str, None] = field(default_factory=dict)


def match_application_components(application_id: int) -> dict:
    """Match one application's current components (after an SBOM import)."""
    return _run(applications={application_id})


def match_components(
    *, component_ids: list[int] | None = None, advisory_ids: list[str] | None = None
) -> dict:
    """Match components against advisories and update the "osv" findings; returns counts.

    component_ids: their applications are matched whole (a finding depends on every component
    of its package in the application). advisory_ids: the (application, package) pairs those
    advisories name, or that their live findings belong to, are matched against all advisories
    of the package, so a withdrawn advisory's twin under another id keeps the finding open.
    Neither: everything.
    """
    if component_ids is not None:
        apps = {
            app
            for (app,) in bulk.values_for_ids(
                Component.objects.all(), "id", sorted(set(component_ids)), "application_id"
            )
        }
        return _run(applications=apps)
    if advisory_ids is not None:
        return _run(advisory_ids=sorted(set(advisory_ids)))
    return _run()


def _run(*, applications: set[int] | None = None, advisory_ids: list[str] | None = None) -> dict:
    stats: Counter = Counter()
    if applications is not None and not applications:
        return dict(stats)
    if advisory_ids is not None and not advisory_ids:
        return dict(stats)
    now = timezone.now()
    with transaction.atomic():
        comps, units = _scope(applications, advisory_ids, stats)
        comps = _current(comps, stats)
        matches = _evaluate(comps, stats)
        scope_apps = {c.application_id for c in comps} | {app for app, _ in units or ()}
        if applications is not None:
            scope_apps |= applications
        _lock(scope_apps | {app for app, _ in matches})
        live = _write_matches(matches, now, stats)
        _retract(applications, units, live, now, stats)
    logger.info("osv matching: %s", dict(stats))
    return dict(stats)


def _scope(
    applications: set[int] | None, advisory_ids: list[str] | None, stats: Counter
) -> tuple[list[_Comp], set[tuple[int, tuple[str, str]]] | None]:
    """The components to match and, for advisory-driven runs, the (app, package) units whose
    findings the run decides. None means the applications are decided whole."""
    columns = ("id", "tenant_id", "application_id", "purl", "name", "version", "type")
    query = Component.objects.order_by()
    if applications is not None:
        query = query.filter(application_id__in=sorted(applications))
    keys: set[tuple[str, str]] = set()
    units: set[tuple[int, tuple[str, str]]] | None = None
    if advisory_ids is not None:
        keys, units = _advisory_scope(advisory_ids)
        if not keys and not units:
            return [], units
    comps: list[_Comp] = []
    decided = frozenset(units or ())  # units of live findings, before components add theirs
    for row in query.values_list(*columns).iterator(chunk_size=10_000):
        comp = _component(row, stats)
        if comp is None:
            continue
        if units is not None:
            if comp.key not in keys and (comp.application_id, comp.key) not in decided:
                continue
            units.add((comp.application_id, comp.key))
        comps.append(comp)
    return comps, units


def _advisory_scope(
    advisory_ids: list[str],
) -> tuple[set[tuple[str, str]], set[tuple[int, tuple[str, str]]]]:
    """Package keys the advisories name, and the (app, package) units of their live findings."""
    pks = [
        pk for (pk,) in bulk.values_for_ids(OsvAdvisory.objects.all(), "osv_id", advisory_ids, "id")
    ]
    keys = set(
        bulk.values_for_ids(OsvAffected.objects.all(), "advisory_id", pks, "purl_type", "package")
    )
    finding_ids = sorted(
        {
            pk
            for (pk,) in bulk.values_for_ids(
                _live_occurrences(), "rule_id", advisory_ids, "finding_id"
            )
        }
    )
    units = set()
    for app, purl in bulk.values_for_ids(
        Finding.objects.all(), "id", finding_ids, "application_id", "component_purl"
    ):
        key = component_key(purl) if purl else None
        if key:
            units.add((app, key[:2]))
    return keys, units


def _component(row: tuple, stats: Counter) -> _Comp | None:
    pk, tenant_id, app, purl, name, version, ctype = row
    key = component_key(purl) if purl else None
    if key is None:
        stats["components_without_purl"] += 1
        return None
    return _Comp(pk, tenant_id, app, purl, name, key[2] or version, ctype, key[:2])


def _current(comps: list[_Comp], stats: Counter) -> list[_Comp]:
    """Drop components their SBOM stream's latest scan no longer reported."""
    if not comps:
        return comps
    apps = sorted({c.application_id for c in comps})
    last_scans = (
        Component.objects.filter(application_id__in=apps)
        .order_by()
        .values_list("id", "last_scan_id")
    )
    component_scan = dict(last_scans)
    scan_ids = sorted({s for s in component_scan.values() if s is not None})
    latest: dict[tuple, int] = {}
    for pk, app, tool, branch in bulk.values_for_ids(
        Scan.objects.all(), "id", scan_ids, "id", "application_id", "tool_name", "branch"
    ):
        stream = (app, tool, branch)
        latest[stream] = max(latest.get(stream, 0), pk)
    current_scans = set(latest.values())
    kept = [
        c
        for c in comps
        if component_scan.get(c.id) is None or component_scan[c.id] in current_scans
    ]
    stats["components_stale"] += len(comps) - len(kept)
    return kept


def _evaluate(comps: list[_Comp], stats: Counter) -> dict[tuple[int, str], _Match]:
    """Every (application, dedup key) that some advisory affects, with its advisories."""
    by_key: dict[tuple[str, str], list[_Comp]] = defaultdict(list)
    for comp in comps:
        by_key[comp.key].append(comp)
    stats["components"] += len(comps)
    rows, advisories = _affected_rows(by_key)
    stats["affected_rows"] += sum(len(r) for r in rows.values())
    stats["advisories_considered"] += len(advisories)
    matches: dict[tuple[int, str], _Match] = {}
    unparsable: set[int] = set()
    for key, group in by_key.items():
        for row in rows.get(key, ()):
            if row.compiled is None:
                row.compiled = compile_ranges(row.purl_type, row.ranges, stats)
            advisory = advisories[row.advisory_id]
            for comp in group:
                if not _affects(comp, row, unparsable):
                    continue
                stats["matches"] += 1
                identity = _dedup(advisory, comp)
                match = matches.setdefault((comp.application_id, identity), _Match(comp))
                match.advisories[row.advisory_id] = advisory
                match.fixed.update(dict.fromkeys(row.fixed))
    stats["unparsable_versions"] += len(unparsable)
    return matches


def _affects(comp: _Comp, row: _Row, unparsable: set[int]) -> bool:
    if comp.version in row.versions:
        return True
    for compiled in row.compiled or ():
        version = parse_version(compiled.cls, comp.version)
        if version is None:
            unparsable.add(comp.id)
            continue
        if compiled.contains(version):
            return True
    return False


def _affected_rows(
    by_key: dict[tuple[str, str], list[_Comp]],
) -> tuple[dict[tuple[str, str], list[_Row]], dict[int, dict]]:
    """Affected rows of live (not withdrawn) advisories for these keys, and the advisories."""
    packages: dict[str, list[str]] = defaultdict(list)
    for purl_type, package in by_key:
        packages[purl_type].append(package)
    rows: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for purl_type, names in packages.items():
        names.sort()
        for start in range(0, len(names), CHUNK):
            query = OsvAffected.objects.filter(
                purl_type=purl_type,
                package__in=names[start : start + CHUNK],
                advisory__withdrawn__isnull=True,
            ).values_list("package", "advisory_id", "ranges", "versions", "fixed")
            for package, advisory_id, ranges, versions, fixed in query:
                row = _Row(advisory_id, purl_type, ranges or [], frozenset(versions or ()), fixed)
                rows[(purl_type, package)].append(row)
    ids = sorted({r.advisory_id for group in rows.values() for r in group})
    columns = ("id", "osv_id", "aliases", "summary", "severity", "cwes")
    advisories = {
        values[0]: dict(zip(columns, values, strict=True))
        for values in bulk.values_for_ids(OsvAdvisory.objects.all(), "id", ids, *columns)
    }
    return rows, advisories


def _vuln_ids(advisory: dict) -> tuple[str, ...]:
    return (advisory["osv_id"], *advisory["aliases"])


def _dedup(advisory: dict, comp: _Comp) -> str:
    """The key apps.findings.dedup gives a scanner's result for this vulnerability+package."""
    component = ParsedComponent(
        name=comp.name, version=comp.version, purl=comp.purl, type=comp.type
    )
    return _key(_vuln_ids(advisory), component)


def _key(vuln_ids: tuple[str, ...], component: ParsedComponent) -> str:
    nf = NormalizedFinding(
        kind="sca",
        tool=TOOL,
        rule_id=vuln_ids[0],
        title="",
        severity="",
        vuln_ids=vuln_ids,
        component=component,
    )
    key, strategy = dedup_key(nf)
    if strategy != "sca":  # a purl'd component with an id always keys as SCA
        raise ValueError(f"unexpected dedup strategy {strategy} for {vuln_ids[0]}")
    return key


# --- writes -------------------------------------------------------------------------------------


def _lock(apps: set[int]) -> None:
    """Serialise with imports of the same applications, as ingestion does."""
    if apps:
        list(
            Application.objects.select_for_update()
            .filter(id__in=sorted(apps))
            .order_by("id")
            .values_list("id", flat=True)
        )


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
    "resource",
    "cvss",
    "vex_state",
    "vex_justification",
    "first_seen",
    "last_seen",
    "reopen_count",
    "updated_at",
    "risk_explanation",
    "ssvc",
    "kev",
)
OCCURRENCE_FIELDS = (
    "tenant_id",
    "application_id",
    "finding_id",
    "tool",
    "branch",
    "rule_id",
    "path",
    "fingerprints",
    "suppressed",
    "suppression",
    "baseline_state",
    "last_seen",
)
EVENT_FIELDS = (
    "tenant_id",
    "finding_id",
    "from_status",
    "to_status",
    "actor",
    "reason",
    "created_at",
)
INTEL_EVENT_FIELDS = ("tenant_id", "kind", "vuln_id", "finding_id", "details", "created_at")


def _write_matches(
    matches: dict[tuple[int, str], _Match], now: datetime, stats: Counter
) -> set[int]:
    """Create or refresh the findings and "osv" occurrences of the matches; returns the ids of
    the findings that are live in the "osv" stream."""
    if not matches:
        return set()
    apps = sorted({app for app, _ in matches})
    keys = sorted({key for _, key in matches})
    existing = {
        (app, key): (pk, status)
        for app, key, pk, status in bulk.values_for_ids(
            Finding.objects.filter(application_id__in=apps),
            "dedup_key",
            keys,
            "application_id",
            "dedup_key",
            "id",
            "status",
        )
        if (app, key) in matches
    }
    new = [unit for unit in matches if unit not in existing]
    bulk.insert_rows(Finding, FINDING_FIELDS, (_finding_row(u, matches[u], now) for u in new))
    ids = {unit: pk for unit, (pk, _) in existing.items()}
    if new:
        ids.update(
            ((app, key), pk)
            for app, key, pk in bulk.values_for_ids(
                Finding.objects.filter(application_id__in=sorted({a for a, _ in new})),
                "dedup_key",
                sorted({k for _, k in new}),
                "application_id",
                "dedup_key",
                "id",
            )
            if (app, key) in matches and (app, key) not in existing
        )
    seen = [pk for pk, _ in existing.values()]
    reopen = [(pk, status) for pk, status in existing.values() if status in CLOSED]
    bulk.update_by_ids(Finding, seen, last_seen=now, updated_at=now)
    bulk.update_by_ids(
        Finding,
        [pk for pk, _ in reopen],
        status=FindingStatus.REOPENED,
        closed_at=None,
        closed_by_scan_id=None,
        reopen_count=F("reopen_count") + 1,
    )
    tenants = {ids[unit]: matches[unit].comp.tenant_id for unit in matches}
    _record_events(
        tenants, [(pk, old, FindingStatus.REOPENED) for pk, old in reopen], "matched again", now
    )
    _upsert_occurrences(matches, ids, now)
    bulk.insert_rows(
        IntelEvent,
        INTEL_EVENT_FIELDS,
        (_intel_event_row(matches[unit], ids[unit], now) for unit in new),
    )
    stats["findings_new"] += len(new)
    stats["findings_existing"] += len(existing)
    stats["findings_reopened"] += len(reopen)
    _refresh_risk([ids[unit] for unit in new] + [pk for pk, _ in reopen])
    return set(ids.values())


def _finding_row(unit: tuple[int, str], match: _Match, now: datetime) -> tuple:
    advisories = [match.advisories[pk] for pk in sorted(match.advisories, key=_by_osv_id(match))]
    first = advisories[0]
    ids = [i for a in advisories for i in _vuln_ids(a)]
    vuln_id = primary_vuln_id(ids)
    aliases = [i for i in dict.fromkeys(normalise_vuln_id(i) for i in ids) if i != vuln_id]
    cvss = {c.vector: c for a in advisories for c in advisory_cvss(a["severity"])}
    text = next((a["summary"] for a in advisories if a["summary"]), "")
    cwes = [n for a in advisories for n in (cwe_number(c) for c in a["cwes"]) if n is not None]
    comp = match.comp
    return (
        comp.tenant_id,
        unit[0],
        unit[1],
        "sca",
        "sca",
        FindingStatus.OPEN,
        max((_severity(a) for a in advisories), key=SEVERITY_RANK.__getitem__),
        TOOL,
        first["osv_id"][:500],
        _title(text) or first["osv_id"],
        text[:20_000],
        min(cwes) if cwes else None,
        vuln_id[:100],
        aliases,
        comp.purl[:1000],
        comp.name[:500],
        comp.version[:200],
        list(match.fixed),
        "",
        "",
        [
            {"version": c.version, "vector": c.vector, "score": c.score, "source": c.source}
            for c in cvss.values()
        ],
        "",
        "",
        now,
        now,
        0,
        now,
        {},
        "",
        False,
    )


def _by_osv_id(match: _Match):
    return lambda pk: match.advisories[pk]["osv_id"]


def _severity(advisory: dict) -> str:
    scores = [c.score for c in advisory_cvss(advisory["severity"]) if c.score is not None]
    return severity_from_score(max(scores)) if scores else DEFAULT_SEVERITY


def _title(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= 200 else line[:199].rstrip() + "…"


def _upsert_occurrences(
    matches: dict[tuple[int, str], _Match], ids: dict[tuple[int, str], int], now: datetime
) -> None:
    # By stream (application, tool, branch): the index ingestion uses; finding ids filtered here.
    wanted = set(ids.values())
    existing = {
        finding_id: pk
        for pk, finding_id in Occurrence.objects.filter(
            application_id__in=sorted({app for app, _ in matches}), tool=TOOL, branch=BRANCH
        ).values_list("id", "finding_id")
        if finding_id in wanted
    }
    bulk.update_by_ids(
        Occurrence,
        sorted(existing.values()),
        last_seen=now,
        retracted_at=None,
        retracted_by_scan_id=None,
    )
    rows = []
    for unit, match in matches.items():
        pk = ids[unit]
        if pk in existing:
            continue
        rule_id = min(a["osv_id"] for a in match.advisories.values())
        rows.append(
            (match.comp.tenant_id, unit[0], pk, TOOL, BRANCH, rule_id, "", {}, False, "", "", now)
        )
    bulk.insert_rows(Occurrence, OCCURRENCE_FIELDS, rows)


def _intel_event_row(match: _Match, finding_id: int, now: datetime) -> tuple:
    advisory_ids = sorted(a["osv_id"] for a in match.advisories.values())
    vuln_id = primary_vuln_id(i for a in match.advisories.values() for i in _vuln_ids(a))
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


def _record_events(
    tenants: dict[int, int], changes: Sequence[tuple[int, str, str]], reason: str, now: datetime
) -> None:
    """One FindingEvent per status change, in the matching transaction."""
    bulk.insert_rows(
        FindingEvent,
        EVENT_FIELDS,
        ((tenants[pk], pk, old, new, ACTOR, reason, now) for pk, old, new in changes),
    )


def _live_occurrences():
    return Occurrence.objects.filter(tool=TOOL, branch=BRANCH, retracted_at__isnull=True)


def _retract(
    applications: set[int] | None,
    units: set[tuple[int, tuple[str, str]]] | None,
    live: set[int],
    now: datetime,
    stats: Counter,
) -> None:
    """Retract the in-scope "osv" occurrences no match produced; close orphaned findings."""
    query = _live_occurrences()
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
    bulk.update_by_ids(Occurrence, [pk for pk, _ in gone], retracted_at=now)
    stats["occurrences_retracted"] += len(gone)
    candidates = sorted({finding_id for _, finding_id in gone})
    still = {
        finding_id
        for (finding_id,) in bulk.values_for_ids(
            Occurrence.objects.filter(retracted_at__isnull=True),
            "finding_id",
            candidates,
            "finding_id",
        )
    }
    closing = [
        (pk, status, tenant)
        for pk, status, tenant in bulk.values_for_ids(
            Finding.objects.all(), "id", candidates, "id", "status", "tenant_id"
        )
        if status in ACTIVE and pk not in still
    ]
    _record_events(
        {pk: tenant for pk, _, tenant in closing},
        [(pk, status, FindingStatus.FIXED) for pk, status, _ in closing],
        "no longer matched by any OSV advisory",
        now,
    )
    bulk.update_by_ids(
        Finding,
        [pk for pk, _, _ in closing],
        status=FindingStatus.FIXED,
        closed_at=now,
        closed_by_scan_id=None,
        updated_at=now,
    )
    stats["findings_closed"] += len(closing)


def _refresh_risk(finding_ids: list[int]) -> None:
    """Score new and reopened findings as imports do (apps.intel.scoring)."""
    if finding_ids:
        from apps.intel.scoring import risk_refresh

        risk_refresh(finding_ids=finding_ids)
