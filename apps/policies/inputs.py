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


def _summary(rows: list[dict], unenriched: int) -> dict[str, Any]:
    """Counts over every open finding (accepted ones apart), in one pass."""
    by_severity: Counter = Counter()
    by_kind: Counter = Counter()
    by_ssvc: Counter = Counter()
    late: Counter = Counter()
    kev = in_scope = accepted = 0
    for r in rows:
        if r["accepted"] is not None:
            accepted += 1
            continue
        by_severity[r["severity"]] += 1
        by_kind[r["kind"]] += 1
        if r["ssvc"]:
            by_ssvc[r["ssvc"]] += 1
        if r["past_sla"]:
            late[r["severity"]] += 1
        kev += r["kev"]
        in_scope += r["in_scope"]
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


def candidate_test(f: dict[str, Any]) -> Callable[[dict], bool]:
    """A predicate for the candidate filter `f`, testing only the clauses it enables (it runs
    once per finding: 10,000 times per decision on a large application)."""
    if f.get("all"):
        return lambda row: True
    tests: list[Callable[[dict], bool]] = []
    if f.get("min_severity"):
        floor = SEVERITY_RANK.get(f["min_severity"], 99)
        tests.append(lambda row: SEVERITY_RANK.get(row["severity"], 0) >= floor)
    if f.get("kinds"):
        kinds = frozenset(f["kinds"])
        tests.append(lambda row: row["kind"] in kinds)
    if f.get("kev"):
        tests.append(lambda row: row["kev"])
    if f.get("ssvc"):
        ssvc = frozenset(f["ssvc"])
        tests.append(lambda row: row["ssvc"] in ssvc)
    if f.get("epss_at_least") is not None:
        threshold = f["epss_at_least"]
        tests.append(lambda row: row["epss"] is not None and row["epss"] >= threshold)
    if f.get("past_sla"):
        tests.append(lambda row: row["past_sla"])
    if f.get("accepted"):
        tests.append(lambda row: row["accepted"] is not None)
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


def assemble(rows: list[dict[str, Any]], filt: dict[str, Any]) -> dict[str, Any]:
    """Profiles, detailed candidates and the omitted count for finding rows (dicts with the
    finding keys of the schema plus `actionable`)."""
    profiles: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(
            row[k] if k != "accepted" else row["accepted"] is not None for k in PROFILE_KEYS
        )
        profile = profiles.get(key)
        if profile is None:
            profile = profiles[key] = {
                **dict(zip(PROFILE_KEYS, key, strict=True)),
                "count": 0,
                "max_epss": None,
                "max_risk": None,
                "max_age_days": 0,
                "first_expiry_ns": None,
                "members": [],
            }
        profile["count"] += 1
        profile["members"].append(row["id"])
        profile["max_age_days"] = max(profile["max_age_days"], row["age_days"])
        for fact, name in (("epss", "max_epss"), ("risk", "max_risk")):
            if row[fact] is not None and (profile[name] is None or row[fact] > profile[name]):
                profile[name] = row[fact]
        if row["accepted"] is not None:
            expiry = row["accepted"]["expires_ns"]
            if profile["first_expiry_ns"] is None or expiry < profile["first_expiry_ns"]:
                profile["first_expiry_ns"] = expiry
    ordered = sorted(profiles.values(), key=lambda p: [str(p[k]) for k in PROFILE_KEYS])
    for number, profile in enumerate(ordered, 1):
        profile["ref"] = f"p{number}"
        profile["members"].sort()
    wanted = candidate_test(filt)
    candidates = [
        {k: v for k, v in row.items() if k != "actionable"} for row in rows if wanted(row)
    ]
    return {
        "profiles": ordered,
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

    rows: list[dict[str, Any]] = []
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
            {
                "id": fid,
                "actionable": acceptance is None and vex not in NOT_AFFECTED_VEX,
                "kind": kind,
                "severity": severity,
                "risk": risk,
                "epss": epss,
                "kev": kev,
                "ssvc": ssvc,
                "vex": vex,
                "status": status,
                "age_days": age_ns // DAY_NS,
                "sla_days": limit,
                "past_sla": limit is not None and age_ns > limit * DAY_NS,
                "in_scope": last_scan_id in scan_ids,
                "rule": rule_id,
                "vuln": vuln_id,
                "path": path,
                "component": purl,
                "tool": tool,
                "accepted": None
                if acceptance is None
                else {
                    "id": acceptance.pk,
                    "scope": acceptance.scope,
                    "expires_ns": to_ns(acceptance.expires_at),
                },
            }
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
    vuln_findings = sum(1 for r in rows if r["kind"] in VULN_KINDS and r["vuln"])
    document["acceptances"] = [accepted.describe(pk) for pk in sorted(applied)]
    return Built(
        document=document,
        confidence_inputs={"vuln_findings": vuln_findings, "unenriched": unenriched},
    )
