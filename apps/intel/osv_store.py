"""Store OSV advisories: the advisory, its affected packages, alias claims, Vulnerability rows.

Writes are set-based (fixops.platform.bulk): the statement count grows with the number of
chunks, never with the number of advisories. An advisory is rewritten only when its `modified`
timestamp differs from the stored one (OSV bumps `modified` on every change, withdrawal
included), so a daily refresh of an unchanged export costs its lookups and nothing else.
Advisories missing from a later export are kept: OSV withdraws records rather than deleting
them, and a partial mirror must not erase what a full export loaded.

Alias claims carry the source "osv:<advisory id>" and are replaced whole when the advisory
changes, so an alias an advisory stops claiming disappears with it. Vulnerability rows are
keyed by the canonical id (apps.findings.dedup.primary_vuln_id: lowest CVE, else GHSA, else the
advisory id); OSV only fills their summary and CVSS columns (scores recomputed from vectors by
the `cvss` library), never the EPSS and KEV columns other feeds own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import models, transaction
from django.utils import timezone

from apps.findings.dedup import primary_vuln_id
from apps.findings.parsers._sbom import InvalidVector, parse_cvss
from apps.findings.parsers.base import Cvss
from apps.intel.models import OsvAdvisory, OsvAffected, Vulnerability, VulnerabilityAlias
from fixops.platform import bulk

CHUNK = 5_000  # ids per IN (...) list on the ORM paths that take one parameter per value
CVSS_TYPES = {"CVSS_V2": "2.0", "CVSS_V3": "3.1", "CVSS_V4": "4.0"}

ADVISORY_FIELDS = (
    "osv_id",
    "modified",
    "published",
    "withdrawn",
    "aliases",
    "summary",
    "severity",
    "cwes",
    "references",
)
AFFECTED_FIELDS = (
    "advisory_id",
    "ecosystem",
    "purl_type",
    "package",
    "ranges",
    "versions",
    "fixed",
)
VULN_CVSS_FIELDS = (
    "summary",
    "cvss_v3_vector",
    "cvss_v3_score",
    "cvss_v4_vector",
    "cvss_v4_score",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class AffectedPackage:
    """One validated `affected[]` entry, keyed like a purl (apps.intel.osv_match.affected_key)."""

    ecosystem: str
    purl_type: str
    package: str
    ranges: list[dict]
    versions: list[str]
    fixed: list[str]  # fixed events of the SEMVER/ECOSYSTEM ranges, in event order


@dataclass(frozen=True, slots=True)
class Advisory:
    """One validated OSV record, ready to store."""

    osv_id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: list[str] = field(default_factory=list)
    summary: str = ""  # `summary`, else `details` (PYSEC records often only have details)
    severity: list[dict] = field(default_factory=list)
    cwes: list[int] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)
    affected: list[AffectedPackage] = field(default_factory=list)


@dataclass
class StoreResult:
    new: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    unchanged: int = 0
    withdrawn: list[str] = field(default_factory=list)  # new or modified, and withdrawn
    vulnerabilities: list[str] = field(default_factory=list)  # Vulnerability rows written

    @property
    def changed(self) -> list[str]:
        return [*self.new, *self.modified]


def advisory_cvss(severity: Iterable[dict]) -> list[Cvss]:
    """The CVSS entries of an OSV `severity` list, re-scored; vectors the library rejects and
    non-CVSS types (e.g. "Ubuntu" words) are left out."""
    out: list[Cvss] = []
    for entry in severity:
        hint = CVSS_TYPES.get(str(entry.get("type", "")))
        vector = entry.get("score")
        if not hint or not isinstance(vector, str):
            continue
        try:
            out.append(parse_cvss(vector, hint=hint, source="osv"))
        except InvalidVector:
            continue
    return out


def osv_advisories_store(*, advisories: Sequence[Advisory]) -> StoreResult:
    """Insert new advisories and rewrite those whose `modified` changed; returns which."""
    result = StoreResult()
    by_id = {a.osv_id: a for a in advisories}
    with transaction.atomic():
        stored = {
            osv_id: (pk, modified)
            for osv_id, pk, modified in bulk.values_for_ids(
                OsvAdvisory.objects.all(), "osv_id", sorted(by_id), "osv_id", "id", "modified"
            )
        }
        new = [a for a in by_id.values() if a.osv_id not in stored]
        modified = [
            a for a in by_id.values() if a.osv_id in stored and stored[a.osv_id][1] != a.modified
        ]
        result.new = sorted(a.osv_id for a in new)
        result.modified = sorted(a.osv_id for a in modified)
        result.unchanged = len(by_id) - len(new) - len(modified)
        result.withdrawn = sorted(a.osv_id for a in (*new, *modified) if a.withdrawn)
        if not new and not modified:
            return result
        bulk.insert_rows(OsvAdvisory, ADVISORY_FIELDS, (_advisory_row(a) for a in new))
        modified_pks = [stored[a.osv_id][0] for a in modified]
        bulk.update_rows(
            OsvAdvisory,
            ADVISORY_FIELDS[1:],
            [(stored[a.osv_id][0], *_advisory_row(a)[1:]) for a in modified],
        )
        for start in range(0, len(modified_pks), CHUNK):
            OsvAffected.objects.filter(advisory_id__in=modified_pks[start : start + CHUNK]).delete()
        pks = {osv_id: stored[osv_id][0] for osv_id in result.modified}
        pks.update(
            bulk.values_for_ids(OsvAdvisory.objects.all(), "osv_id", result.new, "osv_id", "id")
        )
        changed = [*new, *modified]
        bulk.insert_rows(
            OsvAffected,
            AFFECTED_FIELDS,
            (
                (pks[a.osv_id], p.ecosystem, p.purl_type, p.package, p.ranges, p.versions, p.fixed)
                for a in changed
                for p in a.affected
            ),
        )
        _replace_alias_claims(changed)
        result.vulnerabilities = _upsert_vulnerabilities(changed)
    return result


def _advisory_row(a: Advisory) -> tuple:
    return (
        a.osv_id,
        a.modified,
        a.published,
        a.withdrawn,
        a.aliases,
        a.summary,
        a.severity,
        a.cwes,
        a.references,
    )


def canonical_id(a: Advisory) -> str:
    """The id a vulnerability is known by across its aliases (CVE preferred)."""
    return primary_vuln_id([a.osv_id, *a.aliases])


def _replace_alias_claims(changed: Sequence[Advisory]) -> None:
    """Drop the changed advisories' claims and write their current ones (withdrawn: none)."""
    sources = [f"osv:{a.osv_id}" for a in changed]
    for start in range(0, len(sources), CHUNK):
        VulnerabilityAlias.objects.filter(source__in=sources[start : start + CHUNK]).delete()
    rows: dict[tuple[str, str, str], None] = {}
    for a in changed:
        if a.withdrawn:
            continue
        vuln_id = canonical_id(a)
        for alias in (a.osv_id, *a.aliases):
            name = alias.strip().upper()
            if name and name != vuln_id:
                rows[(name[:100], vuln_id[:64], f"osv:{a.osv_id}"[:100])] = None
    bulk.insert_rows(VulnerabilityAlias, ("alias", "vuln_id", "source"), rows)


def _upsert_vulnerabilities(changed: Sequence[Advisory]) -> list[str]:
    """One Vulnerability per canonical id; CVSS from the highest-scoring valid vector of each
    version family among its live advisories. Existing values stay when OSV has none."""
    now = timezone.now()
    wanted: dict[str, dict] = {}
    for a in sorted(changed, key=lambda a: a.osv_id):
        if a.withdrawn:
            continue
        vuln = wanted.setdefault(canonical_id(a)[:64], {"summary": ""})
        vuln["summary"] = vuln["summary"] or a.summary
        for cvss in advisory_cvss(a.severity):
            family = "v4" if cvss.version == "4.0" else "v3" if cvss.version[0] == "3" else ""
            best = vuln.get(family)
            if family and (best is None or (cvss.score or 0) > (best.score or 0)):
                vuln[family] = cvss
    if not wanted:
        return []
    existing = {
        row[0]: row[1:]
        for row in bulk.values_for_ids(
            Vulnerability.objects.all(),
            "vuln_id",
            sorted(wanted),
            "vuln_id",
            "id",
            *VULN_CVSS_FIELDS[:-1],
        )
    }
    creates: list[dict] = []
    updates: list[tuple] = []
    written: list[str] = []
    for vuln_id, want in wanted.items():
        v3, v4 = want.get("v3"), want.get("v4")
        if vuln_id not in existing:
            creates.append(
                {
                    "vuln_id": vuln_id,
                    "summary": want["summary"],
                    "cvss_v3_vector": v3.vector[:200] if v3 else "",
                    "cvss_v3_score": v3.score if v3 else None,
                    "cvss_v4_vector": v4.vector[:300] if v4 else "",
                    "cvss_v4_score": v4.score if v4 else None,
                    "updated_at": now,
                }
            )
            written.append(vuln_id)
            continue
        pk, summary, v3_vector, v3_score, v4_vector, v4_score = existing[vuln_id]
        values = (
            summary or want["summary"],
            v3.vector[:200] if v3 else v3_vector,
            v3.score if v3 else v3_score,
            v4.vector[:300] if v4 else v4_vector,
            v4.score if v4 else v4_score,
        )
        if values != (summary, v3_vector, v3_score, v4_vector, v4_score):
            updates.append((pk, *values, now))
            written.append(vuln_id)
    _insert_with_defaults(Vulnerability, creates)
    bulk.update_rows(Vulnerability, VULN_CVSS_FIELDS, updates)
    return sorted(written)


def _insert_with_defaults(model: type[models.Model], rows: list[dict]) -> None:
    """COPY rows, filling every other column with its model default (the table has none of
    its own): the ORM's bulk_create spent ~10 s building 50,000 Vulnerability instances.
    The ids were looked up just before in this transaction; a feed inserting the same id
    concurrently fails this load, which the next refresh repeats."""
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    names = [f.attname for f in fields]
    defaults = {f.attname: f.get_default() for f in fields}
    bulk.insert_rows(
        model, names, ([row.get(name, defaults[name]) for name in names] for row in rows)
    )
