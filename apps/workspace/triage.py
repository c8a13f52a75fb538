"""Reads for the triage pages: what one finding's page shows, composed from findings (the
facts, occurrences, comments, history), intel (the risk factors, upgrade advice), connectors
(tickets) and policies (acceptances). Pure functions of rows; the admin renders them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from django.db.models import Exists, OuterRef, QuerySet

from apps.connectors.models import ExternalLink
from apps.connectors.selectors import finding_links
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Finding, Occurrence, Scan
from apps.findings.selectors import comment_list, finding_event_list, occurrences_sighted
from apps.intel.osv_versions import smallest_fix_above
from apps.policies.selectors import acceptances_covering
from apps.tenants.models import Tenant

ACTIVE_STATUSES = sorted(ACTIVE)
# Kinds whose finding names a package version that an upgrade fixes.
PACKAGE_KINDS = frozenset({"sca", "container"})
_REF = re.compile(r"^[0-9A-Za-z._/-]{1,100}$")


def with_ticket(queryset: QuerySet[Finding], has: bool) -> QuerySet[Finding]:
    """Findings with (or without) a ticket of their own (a one-ticket-per-finding link;
    grouped tickets are found on the finding's page, by reference)."""
    linked = Exists(ExternalLink.objects.filter(finding_id=OuterRef("pk")))
    return queryset.filter(linked if has else ~linked)


# --- the risk explanation as a table -------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    part: str  # likelihood | impact | score | ssvc
    name: str
    value: str
    contribution: str


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return "-" if value in (None, "") else str(value)
    return f"{value:.{digits}g}"


def risk_factors(explanation: dict[str, Any]) -> list[Factor]:
    """The rows of apps/intel/risk.py's explanation: the likelihood's prior and each piece of
    evidence with the log-odds it adds, the impact's base and its multipliers, the score, and
    the SSVC inputs. An empty or unknown explanation gives no rows."""
    if not isinstance(explanation, dict) or "likelihood" not in explanation:
        return []
    rows: list[Factor] = []
    likelihood = explanation.get("likelihood") or {}
    prior = likelihood.get("prior") or {}
    rows.append(
        Factor(
            "likelihood",
            f"prior ({prior.get('source', '-')})",
            f"p = {_number(prior.get('p'))}",
            f"log-odds {_number(prior.get('log_odds'))}",
        )
    )
    for item in likelihood.get("evidence") or []:
        rows.append(
            Factor(
                "likelihood",
                str(item.get("name", "-")).replace("_", " "),
                f"likelihood ratio {_number(item.get('likelihood_ratio'))}",
                f"log-odds {float(item.get('log_odds') or 0):+.4g}",
            )
        )
    rows.append(
        Factor(
            "likelihood",
            "likelihood",
            f"p(exploit) = {_number(likelihood.get('probability'))}",
            f"{_number(likelihood.get('value'))} (0-1)",
        )
    )
    impact = explanation.get("impact") or {}
    base = impact.get("base") or {}
    base_value = base.get("vector") or base.get("source", "-")
    if base.get("base_score") is not None:
        base_value = f"{base_value} (CVSS {_number(base['base_score'])})"
    rows.append(Factor("impact", "base", str(base_value), _number(base.get("value"))))
    for name in ("criticality", "data_classification"):
        part = impact.get(name) or {}
        rows.append(
            Factor(
                "impact",
                name.replace("_", " "),
                str(part.get("value", "-")),
                f"x {_number(part.get('factor'))}",
            )
        )
    rows.append(Factor("impact", "impact", "capped at 1", f"{_number(impact.get('value'))}"))
    rows.append(
        Factor(
            "score",
            "risk score",
            str(explanation.get("formula", "")),
            _number(explanation.get("score")),
        )
    )
    ssvc = explanation.get("ssvc")
    if isinstance(ssvc, dict):
        inputs = ", ".join(f"{k}: {v}" for k, v in ssvc.items() if k != "outcome")
        rows.append(Factor("ssvc", "SSVC decision", inputs, str(ssvc.get("outcome", "-"))))
    return rows


# --- links to the code ---------------------------------------------------------------------


def _forge(host: str) -> str:
    """Which code host's URL shapes a repository host uses ("" when unknown)."""
    if host == "github.com" or host.startswith("github."):
        return "github"
    if host == "gitlab.com" or host.startswith("gitlab."):
        return "gitlab"
    if host == "bitbucket.org":
        return "bitbucket"
    if host == "dev.azure.com" or host.endswith(".visualstudio.com"):
        return "azure"
    return ""


def _safe_parts(repo_url: str, commit: str, path: str) -> tuple[str, str, str, str] | None:
    """(forge, repository URL, quoted ref, quoted path), or None when any part is unusable."""
    try:
        parts = urlsplit(repo_url.strip())
    except ValueError:
        return None
    forge = _forge((parts.hostname or "").lower())
    unsafe_url = parts.scheme not in ("http", "https") or parts.username or parts.password
    clean = path.replace("\\", "/").lstrip("/")
    segments = clean.split("/")
    unsafe_path = any(s in ("", ".", "..") for s in segments) or len(clean) > 2000
    unsafe_ref = not _REF.match(commit) or ".." in commit
    if not forge or unsafe_url or unsafe_path or unsafe_ref:
        return None
    repo = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('.git')}"
    file = "/".join(quote(s, safe="") for s in segments)
    return forge, repo, quote(commit, safe=""), file


def code_url(repo_url: str, commit: str, path: str, line: int | None) -> str | None:
    """A link to `path` (at `line`) in `repo_url` at `commit`, in the URL shape of GitHub,
    GitLab, Azure DevOps or Bitbucket; None when the host is unknown, the URL is not http(s)
    or a part is missing or unsafe (a path with .., a commit that is no ref)."""
    if not (repo_url and commit and path):
        return None
    parts = _safe_parts(repo_url, commit, path)
    if parts is None:
        return None
    forge, repo, ref, file = parts
    if forge == "azure":
        url = f"{repo}?path=/{file}&version=GC{ref}"
        if line:
            url += f"&line={line}&lineEnd={line}&lineStartColumn=1&lineEndColumn=1"
        return url
    shape = {
        "github": ("/blob/", "#L"),
        "gitlab": ("/-/blob/", "#L"),
        "bitbucket": ("/src/", "#lines-"),
    }
    middle, anchor = shape[forge]
    return f"{repo}{middle}{ref}/{file}" + (f"{anchor}{line}" if line else "")


@dataclass(frozen=True)
class OccurrenceRow:
    occurrence: Occurrence
    commit: str
    url: str | None


def occurrence_rows(finding: Finding) -> list[OccurrenceRow]:
    """Who reports the finding, each with the commit its last scan saw and a link to the
    code there (two queries)."""
    occurrences = occurrences_sighted(finding=finding, limit=100)
    scan_ids = {o.last_scan_id for o in occurrences if o.last_scan_id}
    commits = dict(
        Scan.objects.filter(tenant_id=finding.tenant_id, pk__in=scan_ids).values_list(
            "pk", "commit"
        )
    )
    repo = finding.application.repo_url
    rows = []
    for o in occurrences:
        commit = commits.get(o.last_scan_id, "")
        rows.append(OccurrenceRow(o, commit, code_url(repo, commit, o.path, o.line)))
    return rows


# --- upgrade advice ------------------------------------------------------------------------


def upgrade_advice(finding: Finding) -> dict[str, Any] | None:
    """For a package finding: the component, installed version, fixed versions and the
    smallest fixed version above the installed one (None when it is no package finding)."""
    if finding.kind not in PACKAGE_KINDS and not finding.component_purl:
        return None
    fixed = [str(v) for v in (finding.fixed_versions or []) if str(v).strip()]
    target = smallest_fix_above(finding.component_purl, finding.component_version, fixed)
    return {
        "component": finding.component_name or finding.component_purl or "-",
        "purl": finding.component_purl,
        "installed": finding.component_version,
        "fixed": fixed,
        "upgrade_to": target,
    }


# --- the page ------------------------------------------------------------------------------


def finding_page(*, tenant: Tenant, finding: Finding) -> dict[str, Any]:
    """Everything one finding's page shows beyond its own columns."""
    return {
        "risk_factors": risk_factors(finding.risk_explanation),
        "occurrence_rows": occurrence_rows(finding),
        "upgrade": upgrade_advice(finding),
        "comments": list(comment_list(finding=finding)[:200]),
        "history": list(finding_event_list(finding=finding)[:100]),
        "tickets": finding_links(tenant=tenant, findings=[finding]).get(finding.pk, []),
        "acceptances": acceptances_covering(tenant=tenant, finding=finding),
    }
