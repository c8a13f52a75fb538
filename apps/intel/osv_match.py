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
trivy or grype report of the same CVE collapses into it; apps/intel/osv_findings.py writes them
through the findings writer, with the same hooks as an import.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from apps.findings.dedup import dedup_key
from apps.findings.locks import applications_lock
from apps.findings.models import Component, Finding, Scan
from apps.findings.parsers.base import Component as ParsedComponent
from apps.findings.parsers.base import NormalizedFinding
from apps.findings.writer import FindingWriter
from apps.intel.models import OsvAdvisory, OsvAffected
from apps.intel.osv_findings import (
    ACTOR,
    TOOL,
    Comp,
    Match,
    live_occurrences,
    retract_unmatched,
    vuln_ids,
    write_matches,
)
from apps.intel.osv_versions import (
    CompiledRange,
    compile_ranges,
    component_key,
    parse_version,
)
from apps.intel.scoring import risk_refresh
from fixops.platform import bulk
from fixops.platform.models import Event

logger = logging.getLogger(__name__)

CHUNK = 5_000


@dataclass(slots=True)
class _Row:
    """One OsvAffected row, with its ranges compiled on first use."""

    advisory_id: int
    purl_type: str
    ranges: list
    versions: frozenset[str]
    fixed: list[str]
    compiled: list[CompiledRange] | None = None


@dataclass
class MatchResult:
    stats: dict
    # The findings writer's `finding.changed` events (tickets for new and closed findings).
    events: list[Event] = field(default_factory=list)


def match_application_components(application_id: int) -> MatchResult:
    """Match one application's current components (after an SBOM import)."""
    return _run(applications={application_id})


def match_components(
    *, component_ids: list[int] | None = None, advisory_ids: list[str] | None = None
) -> MatchResult:
    """Match components against advisories and update the "osv" findings.

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


def _run(
    *, applications: set[int] | None = None, advisory_ids: list[str] | None = None
) -> MatchResult:
    stats: Counter = Counter()
    if applications is not None and not applications:
        return MatchResult(dict(stats))
    if advisory_ids is not None and not advisory_ids:
        return MatchResult(dict(stats))
    with transaction.atomic():
        comps, units = _scope(applications, advisory_ids, stats)
        comps = _current(comps, stats)
        matches = _evaluate(comps, stats)
        scope_apps = {c.application_id for c in comps} | {app for app, _ in units or ()}
        if applications is not None:
            scope_apps |= applications
        applications_lock(scope_apps | {app for app, _ in matches})
        writer = FindingWriter(cause="osv-match", actor=ACTOR)
        live = write_matches(writer, matches, stats)
        retract_unmatched(writer, applications, units, live, stats)
        # New and reopened findings are scored as imports score theirs.
        rescore = [
            pk
            for tenant in {m.comp.tenant_id for m in matches.values()}
            for pk in (*writer.changes(tenant).opened, *writer.changes(tenant).reopened)
        ]
        if rescore:
            risk_refresh(finding_ids=rescore)
        events = writer.finish(comment="FixOps: OSV advisory matching")
    logger.info("osv matching: %s", dict(stats))
    return MatchResult(dict(stats), events)


def _scope(
    applications: set[int] | None, advisory_ids: list[str] | None, stats: Counter
) -> tuple[list[Comp], set[tuple[int, tuple[str, str]]] | None]:
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
    comps: list[Comp] = []
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
                live_occurrences(), "rule_id", advisory_ids, "finding_id"
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


def _component(row: tuple, stats: Counter) -> Comp | None:
    pk, tenant_id, app, purl, name, version, ctype = row
    key = component_key(purl) if purl else None
    if key is None:
        stats["components_without_purl"] += 1
        return None
    return Comp(pk, tenant_id, app, purl, name, key[2] or version, ctype, key[:2])


def _current(comps: list[Comp], stats: Counter) -> list[Comp]:
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


def _evaluate(comps: list[Comp], stats: Counter) -> dict[tuple[int, str], Match]:
    """Every (application, dedup key) that some advisory affects, with its advisories."""
    by_key: dict[tuple[str, str], list[Comp]] = defaultdict(list)
    for comp in comps:
        by_key[comp.key].append(comp)
    stats["components"] += len(comps)
    rows, advisories = _affected_rows(by_key)
    stats["affected_rows"] += sum(len(r) for r in rows.values())
    stats["advisories_considered"] += len(advisories)
    matches: dict[tuple[int, str], Match] = {}
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
                match = matches.setdefault((comp.application_id, identity), Match(comp))
                match.advisories[row.advisory_id] = advisory
                match.fixed.update(dict.fromkeys(row.fixed))
    stats["unparsable_versions"] += len(unparsable)
    return matches


def _affects(comp: Comp, row: _Row, unparsable: set[int]) -> bool:
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
    by_key: dict[tuple[str, str], list[Comp]],
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


def _dedup(advisory: dict, comp: Comp) -> str:
    """The key apps.findings.dedup gives a scanner's result for this vulnerability+package."""
    component = ParsedComponent(
        name=comp.name, version=comp.version, purl=comp.purl, type=comp.type
    )
    return _key(vuln_ids(advisory), component)


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
