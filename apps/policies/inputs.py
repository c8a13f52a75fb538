"""The policy input document (schema: docs/policy-input.schema.json, version INPUT_VERSION).

Python does the heavy lifting so Rego only decides. One query loads the application's open
and accepted findings as tuples; acceptances, VEX and SLA ages are resolved here; then
apps/policies/profiles.py groups every finding into exactly one profile that rules name by
ref, and lists per-finding detail for the policy version's candidate filter. Context (feeds,
scanner coverage), scope, the scans in scope with their result counts (`scans[].counts`) and
the acceptances that applied complete the document.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Func, Q
from django.db.models.functions import Coalesce

from apps.findings.counts import result_counts
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Application, Finding, FindingStatus, Scan
from apps.findings.parsers.sarif.taxonomy import IAC_TOOLS, SECRET_TOOLS
from apps.findings.selectors import findings_reported_by
from apps.intel.models import FeedStatus
from apps.policies.models import AcceptanceScope, AcceptanceStatus, PolicySettings, RiskAcceptance
from apps.policies.profiles import (
    KIND,
    NOT_AFFECTED_VEX,
    VULN,
    assemble,
    candidate_filter,
    summary_of,
)
from apps.tenants.models import Tenant

INPUT_VERSION = "1"
NS = 1_000_000_000
DAY_NS = 86_400 * NS
ACCEPTED = FindingStatus.RISK_ACCEPTED
IN_INPUT = tuple(ACTIVE | {ACCEPTED})
# Findings that carry a vulnerability id and should therefore have EPSS/KEV intel.
VULN_KINDS = frozenset({"sca", "container"})

_COLUMNS = (
    "id",
    "kind",
    "severity",
    "risk_score",
    "epss",
    "kev",
    "ssvc",
    "vex_state",
    "status",
    "sla_start_s",
    "due_s",
    "rule_id",
    "vuln_id",
    "aliases",
    "path",
    "component_purl",
    "last_scan_id",
    "tool",
)


@dataclass
class Built:
    """The document plus what the decision record keeps beside it."""

    document: dict[str, Any]
    confidence_inputs: dict[str, Any] = field(default_factory=dict)


class EpochSeconds(Func):
    """Whole epoch seconds of a timestamp, computed by the database: parsing 10,000
    timestamps in Python costs more than the rest of the input together."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "floor(extract(epoch from %(expressions)s))::bigint"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        template = "CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"  # %%s reaches SQLite as %s
        return self.as_sql(compiler, connection, template=template, **extra)


# When each finding's SLA clock started (a restart on acceptance expiry, else first seen) and
# when it is due: `due_at`, kept by the findings layer (apps/findings/sla.py), the one source
# of deadlines; the gate does not compute its own.
SLA_START_SECONDS = EpochSeconds(Coalesce("sla_started_at", "first_seen"))
DUE_SECONDS = EpochSeconds("due_at")


def to_ns(moment: datetime) -> int:
    """Epoch nanoseconds: regopy's time parsing rejects `Z` timestamps (standards §8)."""
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


def _fetch(queryset) -> list[tuple]:
    """The queryset's rows as plain tuples straight from the driver: the SQL is still the
    ORM's (tenant-scoped), but Django's per-row handling would double the cost at 10,000 rows."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def settings_for(tenant: Tenant) -> PolicySettings:
    found = PolicySettings.objects.for_tenant(tenant).first()
    return found or PolicySettings(tenant=tenant)


def scan_kinds(scan: Scan) -> set[str]:
    """The finding kinds a report of this format/tool covers, whether or not it found any."""
    tool = (scan.tool_name or "").lower()
    if scan.format == "gitleaks" or tool in SECRET_TOOLS:
        return {"secret"}
    if scan.format == "checkov" or tool in IAC_TOOLS:
        return {"iac"}
    if scan.format in ("cyclonedx-json", "cyclonedx-xml", "spdx-json", "spdx-tag-value", "grype"):
        return {"sca"}
    if scan.format == "trivy" or tool in ("trivy", "grype", "osv-scanner"):
        return {"sca", "container"}
    return {"sast"}


def scan_entry(scan: Scan) -> dict[str, Any]:
    """A scan in scope with what became of its results: `counts` = {results, findings, lost,
    suppressed} (apps/findings/counts.py), so a policy can refuse to trust a lossy import."""
    return {
        "id": scan.pk,
        "format": scan.format,
        "tool": scan.tool_name,
        "counts": result_counts(scan.counts),
    }


def empty_document(now: datetime | None = None) -> dict[str, Any]:
    """A valid document with nothing in it: policies are validated against it on save."""
    return {
        "version": INPUT_VERSION,
        "now_ns": to_ns(now or datetime.now().astimezone()),
        "application": {
            "id": 0,
            "name": "",
            "criticality": "medium",
            "internet_exposed": False,
            "data_classification": "internal",
            "owners": [],
        },
        "scope": {"commit": "", "branch": "", "pipeline_run": "", "scans": []},
        "scans": [],
        "context": {
            "feeds": {},
            "expected_kinds": [],
            "present_kinds": [],
            "missing_kinds": [],
        },
        "summary": summary_of([], 0),
        "profiles": [],
        "findings": [],
        "omitted": {"count": 0, "filter": candidate_filter({})},
        "acceptances": [],
        "advice": {},
    }


class _Acceptances:
    """Approved, unexpired acceptances indexed for matching findings in O(1) (rule/path: a
    short list of globs per rule)."""

    def __init__(self, tenant: Tenant, application: Application, now: datetime):
        rows = RiskAcceptance.objects.for_tenant(tenant).filter(
            Q(application__isnull=True) | Q(application=application),
            status=AcceptanceStatus.APPROVED,
            expires_at__gt=now,
        )
        self.by_finding: dict[int, RiskAcceptance] = {}
        self.by_vuln: dict[str, RiskAcceptance] = {}
        self.by_rule: dict[str, list[RiskAcceptance]] = {}
        rows = list(rows.order_by("expires_at"))  # one query; also used by describe()
        for acceptance in rows:
            if acceptance.scope == AcceptanceScope.FINDING:
                self.by_finding.setdefault(acceptance.finding_id, acceptance)
            elif acceptance.scope in (
                AcceptanceScope.VULNERABILITY_APP,
                AcceptanceScope.VULNERABILITY_ALL,
            ):
                self.by_vuln.setdefault(acceptance.vuln_id.upper(), acceptance)
            elif acceptance.scope == AcceptanceScope.RULE_PATH:
                self.by_rule.setdefault(acceptance.rule_id, []).append(acceptance)
        self.any = bool(self.by_finding or self.by_vuln or self.by_rule)
        self.rows = {a.pk: a for a in rows}
        self.facts: dict[int, dict[str, Any]] = {}

    def fact(self, acceptance: RiskAcceptance) -> dict[str, Any]:
        """The `accepted` value of a finding row (one dict per acceptance, shared)."""
        found = self.facts.get(acceptance.pk)
        if found is None:
            found = self.facts[acceptance.pk] = {
                "id": acceptance.pk,
                "scope": acceptance.scope,
                "expires_ns": to_ns(acceptance.expires_at),
            }
        return found

    def describe(self, pk: int) -> dict[str, Any]:
        acceptance = self.rows[pk]
        return {
            "id": pk,
            "scope": acceptance.scope,
            "vuln": acceptance.vuln_id,
            "rule": acceptance.rule_id,
            "path_pattern": acceptance.path_pattern,
            "expires_ns": to_ns(acceptance.expires_at),
        }

    def match(self, finding_id: int, vuln_ids: list[str], rule_id: str, path: str):
        found = self.by_finding.get(finding_id)
        if found is None and self.by_vuln:
            found = next(
                (self.by_vuln[v.upper()] for v in vuln_ids if v and v.upper() in self.by_vuln),
                None,
            )
        if found is None and rule_id in self.by_rule:
            found = next(
                (a for a in self.by_rule[rule_id] if path_matches(path, a.path_pattern)), None
            )
        return found


def path_matches(path: str, pattern: str) -> bool:
    """fnmatch over repository paths; `**/` also matches zero directories."""
    if not pattern:
        return True
    return fnmatch.fnmatchcase(path, pattern) or (
        pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:])
    )


def _feeds(max_age_hours: int, now: datetime) -> dict[str, Any]:
    feeds: dict[str, Any] = {}
    statuses = {s.name: s for s in FeedStatus.objects.filter(name__in=("epss", "kev"))}
    for name in ("epss", "kev"):
        status = statuses.get(name)
        success = status.last_success if status else None
        age = (now - success).total_seconds() / 3600 if success else None
        feeds[name] = {
            "loaded": success is not None,
            "age_hours": round(age, 1) if age is not None else None,
            "fresh": age is not None and age <= max_age_hours,
            "version": status.version if status else "",
        }
    return feeds


def build(
    *,
    tenant: Tenant,
    application: Application,
    scans: list[Scan],
    commit: str,
    branch: str,
    pipeline_run: str,
    parameters: dict,
    now: datetime,
    settings: PolicySettings | None = None,
) -> Built:
    settings = settings or settings_for(tenant)
    filt = candidate_filter(parameters)
    accepted = _Acceptances(tenant, application, now)
    scan_ids = {s.pk for s in scans}
    # A repeated scan leaves last_scan on the rows as they were (apps/findings/sightings.py).
    repeated = findings_reported_by(application_id=application.pk, scan_ids=scan_ids)
    now_ns = to_ns(now)

    rows: list[tuple] = []
    applied: set[int] = set()
    unenriched = 0
    kinds_seen: set[str] = set()
    present = set().union(*(scan_kinds(s) for s in scans)) if scans else set()
    # Aliases matter only to vulnerability-scoped acceptances; skip the JSON column otherwise.
    columns = (
        _COLUMNS if accepted.by_vuln else tuple(c if c != "aliases" else "tool" for c in _COLUMNS)
    )
    queryset = (
        Finding.objects.for_tenant(tenant)
        .filter(application=application, status__in=IN_INPUT)
        .order_by()
        .annotate(sla_start_s=SLA_START_SECONDS, due_s=DUE_SECONDS)
        .values_list(*columns)
    )
    for values in _fetch(queryset):
        (fid, kind, severity, risk, epss, kev, ssvc, vex, status, sla_start_s, due_s,
         rule_id, vuln_id, aliases, path, purl, last_scan_id, tool) = values  # fmt: skip
        kev = bool(kev)  # SQLite answers 0/1, and 0 is true in Rego
        if not accepted.by_vuln:
            aliases = ()
        elif isinstance(aliases, str):  # SQLite returns JSON as text
            aliases = json.loads(aliases)
        kinds_seen.add(kind)
        age_ns = now_ns - sla_start_s * NS
        # The SLA in days is what due_at grants from the clock's start; a paused (accepted)
        # finding is not past it.
        limit = None if due_s is None else round((due_s - sla_start_s) / 86_400)
        past_sla = due_s is not None and status != ACCEPTED and now_ns > due_s * NS
        acceptance = (
            accepted.match(fid, [vuln_id, *(aliases or ())], rule_id, path)
            if accepted.any
            else None
        )
        if acceptance is not None:
            applied.add(acceptance.pk)
        if kind in VULN_KINDS and vuln_id and epss is None:
            unenriched += 1
        reported = last_scan_id in scan_ids or fid in repeated
        if reported:
            present.add(kind)
        rows.append(
            (
                fid,
                kind,
                severity,
                risk,
                epss,
                kev,
                ssvc,
                vex,
                status,
                age_ns // DAY_NS,
                limit,
                past_sla,
                reported,
                rule_id,
                vuln_id,
                path,
                purl,
                tool,
                None if acceptance is None else accepted.fact(acceptance),
                acceptance is None and vex not in NOT_AFFECTED_VEX,
            )  # FINDING_KEYS order, then actionable
        )
    parts = assemble(rows, filt)
    expected = sorted(set(settings.expected_kinds or ()) or kinds_seen)
    document = {
        "version": INPUT_VERSION,
        "now_ns": now_ns,
        "application": {
            "id": application.pk,
            "name": application.name,
            "criticality": application.criticality,
            "internet_exposed": application.internet_exposed,
            "data_classification": application.data_classification,
            "owners": list(application.owners or []),
        },
        "scope": {
            "commit": commit,
            "branch": branch,
            "pipeline_run": pipeline_run,
            "scans": [
                {"id": s.pk, "format": s.format, "tool": s.tool_name, "sha256": s.sha256}
                for s in scans
            ],
        },
        "scans": [scan_entry(s) for s in scans],
        "context": {
            "feeds": _feeds(settings.feed_max_age_hours, now),
            "expected_kinds": expected,
            "present_kinds": sorted(present),
            "missing_kinds": sorted(set(expected) - present) if scans else [],
        },
        "summary": summary_of(rows, unenriched),
        **parts,
    }
    vuln_findings = sum(1 for r in rows if r[KIND] in VULN_KINDS and r[VULN])
    document["acceptances"] = [accepted.describe(pk) for pk in sorted(applied)]
    # AI advice per finding id; filled by the gate (apps/pipeline/gate.py) when advisory is
    # present for the tenant. Policies may read it; the default pack does not.
    document["advice"] = {}
    return Built(
        document=document,
        confidence_inputs={"vuln_findings": vuln_findings, "unenriched": unenriched},
    )
