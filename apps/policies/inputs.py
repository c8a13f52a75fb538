"""The policy input document (schema: docs/policy-input.schema.json, version INPUT_VERSION).

Python does the heavy lifting so Rego only decides (rego-cpp converts and walks input at
roughly a third of a millisecond per finding object, so 10,000 raw findings would take
seconds). One query loads the application's open and accepted findings as tuples; acceptances,
VEX and SLA ages are resolved here; then every finding lands in exactly one **profile** — the
findings sharing kind, severity, KEV, SSVC, actionability, acceptance, SLA state and scope —
with its count and the maxima of its continuous facts. Rules over profiles name them by `ref`
and the engine expands a ref into its member finding ids, so no finding is ever out of a
rule's reach. Per-finding detail (`findings`) is listed for the candidate filter of the policy
version (`parameters.candidates`): EPSS above the policy's threshold, secrets, KEV… and
`omitted` says how many the filter left out. The stored document keeps each profile's
`members`; the policy sees it without them (`policy_view`).
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Func, Q
from django.db.models.functions import Coalesce

from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Application, Finding, FindingStatus, Scan
from apps.findings.models.finding import SEVERITY_RANK
from apps.findings.parsers.sarif import IAC_TOOLS, SECRET_TOOLS
from apps.intel.models import FeedStatus
from apps.policies.models import AcceptanceScope, AcceptanceStatus, PolicySettings, RiskAcceptance
from apps.tenants.models import Tenant

INPUT_VERSION = "1"
NS = 1_000_000_000
DAY_NS = 86_400 * NS
IN_INPUT = tuple(ACTIVE | {FindingStatus.RISK_ACCEPTED})
# Findings that carry a vulnerability id and should therefore have EPSS/KEV intel.
VULN_KINDS = frozenset({"sca", "container"})
# CycloneDX/OpenVEX analysis states that say the finding does not apply.
NOT_AFFECTED_VEX = ("not_affected", "false_positive", "resolved", "resolved_with_pedigree")

# Which findings get a detailed entry in `findings`; a finding matching any clause does.
# `epss_at_least` defaults to the policy's own `epss_warn` parameter (see candidate_filter).
DEFAULT_CANDIDATES: dict[str, Any] = {
    "min_severity": None,
    "kinds": ["secret"],
    "kev": True,
    "ssvc": ["Act"],
    "past_sla": False,
    "accepted": True,
    "all": False,
}
# A finding row as the builder handles it: the schema's finding keys in this order, then
# `actionable`. Plain tuples, not dicts: there are 10,000 of them per decision on a large
# application, and only the candidates become dicts.
FINDING_KEYS = (
    "id",
    "kind",
    "severity",
    "risk",
    "epss",
    "kev",
    "ssvc",
    "vex",
    "status",
    "age_days",
    "sla_days",
    "past_sla",
    "in_scope",
    "rule",
    "vuln",
    "path",
    "component",
    "tool",
    "accepted",
)
(ID, KIND, SEVERITY, RISK, EPSS, KEV, SSVC, VEX, STATUS, AGE, SLA, PAST_SLA, IN_SCOPE,
 RULE, VULN, PATH, COMPONENT, TOOL, ACCEPTED, ACTIONABLE) = range(20)  # fmt: skip
PROFILE_KEYS = ("kind", "severity", "kev", "ssvc", "actionable", "accepted", "past_sla", "in_scope")

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


# When each finding's SLA clock started (a restart on acceptance expiry, else first seen).
SLA_START_SECONDS = EpochSeconds(Coalesce("sla_started_at", "first_seen"))


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
    if scan.format in ("cyclonedx-json", "cyclonedx-xml", "spdx-json", "grype"):
        return {"sca"}
    if scan.format == "trivy" or tool in ("trivy", "grype", "osv-scanner"):
        return {"sca", "container"}
    return {"sast"}


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
        "context": {
            "feeds": {},
            "expected_kinds": [],
            "present_kinds": [],
            "missing_kinds": [],
        },
        "summary": _summary([], 0),
        "profiles": [],
        "findings": [],
        "omitted": {"count": 0, "filter": candidate_filter({})},
        "acceptances": [],
    }


def _summary(rows: list[tuple], unenriched: int) -> dict[str, Any]:
    """Counts over every open finding (accepted ones apart), in one pass."""
    by_severity: Counter = Counter()
    by_kind: Counter = Counter()
    by_ssvc: Counter = Counter()
    late: Counter = Counter()
    kev = in_scope = accepted = 0
    for row in rows:
        if row[ACCEPTED] is not None:
            accepted += 1
            continue
        by_severity[row[SEVERITY]] += 1
        by_kind[row[KIND]] += 1
        if row[SSVC]:
            by_ssvc[row[SSVC]] += 1
        if row[PAST_SLA]:
            late[row[SEVERITY]] += 1
        kev += row[KEV]
        in_scope += row[IN_SCOPE]
    return {
        "total": len(rows),
        "open": len(rows) - accepted,
        "accepted": accepted,
        "by_severity": dict(by_severity),
        "by_kind": dict(by_kind),
        "by_ssvc": dict(by_ssvc),
        "kev": kev,
        "past_sla": sum(late.values()),
        "past_sla_by_severity": dict(late),
        "in_scope": in_scope,
        "unenriched": unenriched,
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
        for acceptance in rows.order_by("expires_at"):
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


def candidate_test(f: dict[str, Any]) -> Callable[[tuple], bool]:
    """A predicate over finding rows for the candidate filter `f`, testing only the clauses
    it enables (it runs once per finding: 10,000 times per decision on a large application)."""
    if f.get("all"):
        return lambda row: True
    tests: list[Callable[[tuple], bool]] = []
    if f.get("min_severity"):
        floor = SEVERITY_RANK.get(f["min_severity"], 99)
        tests.append(lambda row: SEVERITY_RANK.get(row[SEVERITY], 0) >= floor)
    if f.get("kinds"):
        kinds = frozenset(f["kinds"])
        tests.append(lambda row: row[KIND] in kinds)
    if f.get("kev"):
        tests.append(lambda row: row[KEV])
    if f.get("ssvc"):
        ssvc = frozenset(f["ssvc"])
        tests.append(lambda row: row[SSVC] in ssvc)
    if f.get("epss_at_least") is not None:
        threshold = f["epss_at_least"]
        tests.append(lambda row: row[EPSS] is not None and row[EPSS] >= threshold)
    if f.get("past_sla"):
        tests.append(lambda row: row[PAST_SLA])
    if f.get("accepted"):
        tests.append(lambda row: row[ACCEPTED] is not None)
    return lambda row: any(test(row) for test in tests)


def candidate_filter(parameters: dict) -> dict[str, Any]:
    chosen = {**DEFAULT_CANDIDATES, **(parameters.get("candidates") or {})}
    chosen.setdefault("epss_at_least", parameters.get("epss_warn"))
    return chosen


def policy_view(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the policy sees it: profiles without their member id lists."""
    view = dict(document)
    view["profiles"] = [
        {k: v for k, v in profile.items() if k != "members"} for profile in document["profiles"]
    ]
    return view


def profile_members(document: dict[str, Any]) -> dict[str, list[int]]:
    return {p["ref"]: p["members"] for p in document.get("profiles", ())}


def assemble(rows: list[tuple], filt: dict[str, Any]) -> dict[str, Any]:
    """Profiles, detailed candidates and the omitted count for finding rows (tuples in
    FINDING_KEYS order plus `actionable`)."""
    # key -> [count, max_epss, max_risk, max_age_days, first_expiry_ns, members]
    groups: dict[tuple, list] = {}
    for row in rows:
        accepted = row[ACCEPTED]
        key = (
            row[KIND],
            row[SEVERITY],
            row[KEV],
            row[SSVC],
            row[ACTIONABLE],
            accepted is not None,
            row[PAST_SLA],
            row[IN_SCOPE],
        )  # PROFILE_KEYS order
        group = groups.get(key)
        if group is None:
            group = groups[key] = [0, None, None, 0, None, []]
        group[0] += 1
        group[5].append(row[ID])
        epss, risk, age = row[EPSS], row[RISK], row[AGE]
        if epss is not None and (group[1] is None or epss > group[1]):
            group[1] = epss
        if risk is not None and (group[2] is None or risk > group[2]):
            group[2] = risk
        group[3] = max(group[3], age)
        if accepted is not None and (group[4] is None or accepted["expires_ns"] < group[4]):
            group[4] = accepted["expires_ns"]
    profiles = []
    for number, key in enumerate(sorted(groups, key=lambda k: [str(v) for v in k]), 1):
        count, max_epss, max_risk, max_age, first_expiry, members = groups[key]
        profiles.append(
            {
                **dict(zip(PROFILE_KEYS, key, strict=True)),
                "count": count,
                "max_epss": max_epss,
                "max_risk": max_risk,
                "max_age_days": max_age,
                "first_expiry_ns": first_expiry,
                "members": sorted(members),
                "ref": f"p{number}",
            }
        )
    wanted = candidate_test(filt)
    candidates = [dict(zip(FINDING_KEYS, row, strict=False)) for row in rows if wanted(row)]
    return {
        "profiles": profiles,
        "findings": candidates,
        "omitted": {"count": len(rows) - len(candidates), "filter": filt},
    }


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
) -> Built:
    settings = settings_for(tenant)
    filt = candidate_filter(parameters)
    accepted = _Acceptances(tenant, application, now)
    scan_ids = {s.pk for s in scans}
    sla_days = settings.sla_days or {}
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
        .annotate(sla_start_s=SLA_START_SECONDS)
        .values_list(*columns)
    )
    for values in _fetch(queryset):
        (fid, kind, severity, risk, epss, kev, ssvc, vex, status, sla_start_s,
         rule_id, vuln_id, aliases, path, purl, last_scan_id, tool) = values  # fmt: skip
        kev = bool(kev)  # SQLite answers 0/1, and 0 is true in Rego
        if not accepted.by_vuln:
            aliases = ()
        elif isinstance(aliases, str):  # SQLite returns JSON as text
            aliases = json.loads(aliases)
        kinds_seen.add(kind)
        age_ns = now_ns - sla_start_s * NS
        limit = sla_days.get(severity)
        acceptance = (
            accepted.match(fid, [vuln_id, *(aliases or ())], rule_id, path)
            if accepted.any
            else None
        )
        if acceptance is not None:
            applied.add(acceptance.pk)
        if kind in VULN_KINDS and vuln_id and epss is None:
            unenriched += 1
        if last_scan_id in scan_ids:
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
                limit is not None and age_ns > limit * DAY_NS,
                last_scan_id in scan_ids,
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
        "context": {
            "feeds": _feeds(settings.feed_max_age_hours, now),
            "expected_kinds": expected,
            "present_kinds": sorted(present),
            "missing_kinds": sorted(set(expected) - present) if scans else [],
        },
        "summary": _summary(rows, unenriched),
        **parts,
    }
    vuln_findings = sum(1 for r in rows if r[KIND] in VULN_KINDS and r[VULN])
    document["acceptances"] = [accepted.describe(pk) for pk in sorted(applied)]
    return Built(
        document=document,
        confidence_inputs={"vuln_findings": vuln_findings, "unenriched": unenriched},
    )
