"""The decision page GRC reads (docs/workspace.md, Decision page): one decision composed with
the findings its reasons name, its confidence factors explained, the policy version and the
shadow verdicts, the scans it judged and its evidence. Reads only, tenant first."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from apps.evidence.models import EvidenceBundle
from apps.evidence.selectors import evidence_list
from apps.evidence.services import VerifyReport
from apps.findings.models import Finding, Scan
from apps.findings.selectors import finding_list, scan_list
from apps.policies.confidence import factor_meaning
from apps.policies.models import Decision

# A reason names up to this many findings by title on the page; the link to the findings
# list carries them all.
FINDINGS_SHOWN = 10
# The input document is shown folded, at most this many characters of it (the download and
# the API carry it whole).
INPUT_SHOWN = 200_000

LEVEL_ORDER = {"deny": 0, "review": 1, "warn": 2}
LEVEL_LABELS = {"deny": "Deny (blocks)", "review": "Review (needs a person)", "warn": "Warning"}
# The checks of apps/evidence/services.py evidence_verify, in the order it runs them.
CHECK_LABELS = {
    "stored": "Stored object readable and decrypts",
    "envelope_digest": "Envelope bytes match their recorded sha256",
    "signature": "DSSE signature verifies with a published key",
    "payload_digest": "Signed statement matches its recorded sha256",
    "subjects": "Subjects (scans, policy, input) match the decision's rows",
}


@dataclass
class ReasonRow:
    level: str
    level_label: str
    rule: str
    message: str
    finding_ids: list[int]
    findings: list[Finding] = field(default_factory=list)  # the first FINDINGS_SHOWN, visible

    @property
    def hidden(self) -> int:
        """Named by the reason but not listed by title (beyond FINDINGS_SHOWN, or gone)."""
        return len(self.finding_ids) - len(self.findings)


@dataclass
class FactorRow:
    name: str
    factor: float
    reason: str
    meaning: str


@dataclass
class CheckRow:
    name: str
    label: str
    result: str

    @property
    def ok(self) -> bool:
        return self.result == "ok"


def _reasons(decision: Decision) -> list[ReasonRow]:
    rows = []
    for reason in sorted(decision.reasons or [], key=lambda r: LEVEL_ORDER.get(r.get("level"), 9)):
        ids = [i for i in reason.get("finding_ids") or [] if isinstance(i, int)]
        level = str(reason.get("level", ""))
        rows.append(
            ReasonRow(
                level=level,
                level_label=LEVEL_LABELS.get(level, level),
                rule=str(reason.get("rule", "")),
                message=str(reason.get("message", "")),
                finding_ids=ids,
            )
        )
    wanted = {i for row in rows for i in row.finding_ids[:FINDINGS_SHOWN]}
    # One query for every reason's findings, scoped to the decision's tenant: an id that is
    # no longer there (or never was the tenant's) is counted, not shown.
    found = {f.pk: f for f in finding_list(tenant=decision.tenant).filter(pk__in=wanted)}
    for row in rows:
        row.findings = [found[i] for i in row.finding_ids[:FINDINGS_SHOWN] if i in found]
    return rows


def _factors(decision: Decision) -> list[FactorRow]:
    factors = (decision.confidence_detail or {}).get("factors") or []
    return [
        FactorRow(
            name=str(f.get("name", "")),
            factor=f.get("factor", 1),
            reason=str(f.get("reason", "")),
            meaning=factor_meaning(str(f.get("name", ""))),
        )
        for f in factors
        if isinstance(f, dict)
    ]


def _counts(counts: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name, value in (counts or {}).items():
        shown = (
            " · ".join(f"{k} {v}" for k, v in value.items()) or "none"
            if isinstance(value, dict)
            else str(value)
        )
        rows.append((name.replace("_", " "), shown))
    return rows


def decision_scans(decision: Decision) -> list[Scan]:
    """The scans the decision judged, of its tenant."""
    return list(
        scan_list(tenant=decision.tenant)
        .filter(pk__in=decision.scans.values("pk"))
        .select_related("application")
        .order_by("pk")
    )


def decision_evidence(decision: Decision) -> EvidenceBundle | None:
    """The decision's evidence bundle (of its tenant), or None before the gate recorded one."""
    return evidence_list(tenant=decision.tenant, filters={"decision": decision.pk}).first()


def verification_rows(report: VerifyReport) -> list[CheckRow]:
    """Every check evidence_verify ran, labelled, in its order (unknown ones last)."""
    order = list(CHECK_LABELS)
    names = sorted(report.checks, key=lambda n: order.index(n) if n in order else len(order))
    return [CheckRow(n, CHECK_LABELS.get(n, n), report.checks[n]) for n in names]


def decision_page(*, decision: Decision) -> dict[str, Any]:
    """Everything the decision page shows, in the order it shows it."""
    document = json.dumps(decision.input, indent=2, sort_keys=True, ensure_ascii=False)
    return {
        "decision": decision,
        "reasons": _reasons(decision),
        "factors": _factors(decision),
        "shadow": [s for s in decision.shadow or [] if isinstance(s, dict)],
        "counts": _counts(decision.counts),
        "scans": decision_scans(decision),
        "evidence": decision_evidence(decision),
        "input_json": document[:INPUT_SHOWN],
        "input_truncated": len(document) > INPUT_SHOWN,
        "input_size": len(document),
    }
