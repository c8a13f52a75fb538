"""The policy input document (schema: docs/policy-input.schema.json, version INPUT_VERSION).

Python does the heavy lifting so Rego only decides: one query loads the application's open and
accepted findings as tuples, acceptances and SLA ages are matched here, every finding is
counted in `summary`, and the findings a rule may need to name are listed in `findings`
according to the policy version's candidate filter (`parameters.candidates`). Nothing is
dropped silently: `omitted` says how many findings the filter left out and why, and a filter
of `{"all": true}` lists every one (slower: see docs/policies.md for the figures).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

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

DEFAULT_CANDIDATES: dict[str, Any] = {
    "min_severity": "high",
    "kinds": ["secret"],
    "kev": True,
    "ssvc": ["Act", "Attend", "Track*"],
    "epss_at_least": 0.5,
    "past_sla": False,
    "accepted": True,
    "all": False,
}

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
    "first_seen",
    "sla_started_at",
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
    acceptance_ids: list[int] = field(default_factory=list)


def to_ns(moment: datetime) -> int:
    """Epoch nanoseconds: regopy's time parsing rejects `Z` timestamps (standards §8)."""
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


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
        "findings": [],
        "omitted": {"count": 0, "filter": DEFAULT_CANDIDATES},
    }


def _summary(rows: list[dict], unenriched: int) -> dict[str, Any]:
    active = [r for r in rows if r["accepted"] is None]
    return {
        "total": len(rows),
        "open": len(active),
        "accepted": len(rows) - len(active),
        "by_severity": dict(Counter(r["severity"] for r in active)),
        "by_kind": dict(Counter(r["kind"] for r in active)),
        "by_ssvc": dict(Counter(r["ssvc"] for r in active if r["ssvc"])),
        "kev": sum(1 for r in active if r["kev"]),
        "past_sla": sum(1 for r in active if r["past_sla"]),
        "past_sla_by_severity": dict(Counter(r["severity"] for r in active if r["past_sla"])),
        "in_scope": sum(1 for r in active if r["in_scope"]),
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


def _is_candidate(row: dict, f: dict[str, Any]) -> bool:
    """True when any clause of the candidate filter holds (docs/policies.md)."""
    threshold = f.get("epss_at_least")
    return bool(
        f.get("all")
        or SEVERITY_RANK.get(row["severity"], 0) >= SEVERITY_RANK.get(f.get("min_severity"), 99)
        or row["kind"] in f.get("kinds", ())
        or (f.get("kev") and row["kev"])
        or (row["ssvc"] and row["ssvc"] in f.get("ssvc", ()))
        or (threshold is not None and row["epss"] is not None and row["epss"] >= threshold)
        or (f.get("past_sla") and row["past_sla"])
        or (f.get("accepted") and row["accepted"] is not None)
    )


def candidate_filter(parameters: dict) -> dict[str, Any]:
    return {**DEFAULT_CANDIDATES, **(parameters.get("candidates") or {})}


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
    queryset = (
        Finding.objects.for_tenant(tenant)
        .filter(application=application, status__in=IN_INPUT)
        .order_by()
        .values_list(*_COLUMNS)
    )
    for values in queryset.iterator(chunk_size=5000):
        (fid, kind, severity, risk, epss, kev, ssvc, vex, status, first_seen, sla_start,
         rule_id, vuln_id, aliases, path, purl, last_scan_id, tool) = values  # fmt: skip
        kinds_seen.add(kind)
        started = sla_start or first_seen
        age_ns = now_ns - to_ns(started)
        limit = sla_days.get(severity)
        acceptance = accepted.match(fid, [vuln_id, *(aliases or ())], rule_id, path)
        if acceptance is not None:
            applied.add(acceptance.pk)
        if kind in VULN_KINDS and vuln_id and epss is None:
            unenriched += 1
        if last_scan_id in scan_ids:
            present.add(kind)
        rows.append(
            {
                "id": fid,
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
    candidates = [r for r in rows if _is_candidate(r, filt)]
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
        "findings": candidates,
        "omitted": {"count": len(rows) - len(candidates), "filter": filt},
    }
    vuln_findings = sum(1 for r in rows if r["kind"] in VULN_KINDS and r["vuln"])
    return Built(
        document=document,
        confidence_inputs={"vuln_findings": vuln_findings, "unenriched": unenriched},
        acceptance_ids=sorted(applied),
    )
