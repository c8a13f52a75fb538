"""The in-toto Statement v1 of a decision, built by the gate and signed by evidence.

Subjects are the digests of the decision's inputs (apps/policies/digests.py): each scan's raw
report, the policy version and the policy input document. The predicate is a SLSA Verification
Summary (VSA v1); the FixOps decision predicate rides inside it under its own type URI as key
(in-toto consumers ignore fields they do not know).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.advisory.advice_selectors import advice_for_evidence
from apps.evidence.signing import STATEMENT_TYPE
from apps.evidence.statement import rfc3339
from apps.findings.models import Finding
from apps.policies.digests import decision_subjects
from apps.policies.models import Decision, Outcome, RiskAcceptance

VSA_TYPE = "https://slsa.dev/verification_summary/v1"
DECISION_TYPE = "https://fixops.dev/decision/v1"


def _finding_ids(reasons: list) -> list[int]:
    ids: list[int] = []
    seen: set[int] = set()
    for reason in reasons if isinstance(reasons, list) else []:
        for value in (reason.get("finding_ids") or []) if isinstance(reason, dict) else []:
            if isinstance(value, int) and value not in seen:
                seen.add(value)
                ids.append(value)
    return ids


def _acceptance_ids(decision: Decision) -> list[int]:
    """Acceptances that applied, as the policy input (or result) lists them under
    "acceptances": ids, or objects with an "id"."""
    ids: set[int] = set()
    for document in (decision.input, decision.result):
        entries = document.get("acceptances") if isinstance(document, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            value = entry.get("id") if isinstance(entry, dict) else entry
            if isinstance(value, int):
                ids.add(value)
    return sorted(ids)


def _advice_used(decision: Decision) -> list[dict[str, Any]]:
    """The AI advice the decision's policy input held (input.advice), as its evidence records
    it: who was asked (providers, models), what (the prompt digest), what each answered and
    how far they agreed. Empty, and then left out of the statement, when there was none."""
    entries = decision.input.get("advice") if isinstance(decision.input, dict) else None
    ids = [e.get("id") for e in (entries or {}).values() if isinstance(e, dict)]
    ids = [i for i in ids if isinstance(i, int)]
    if not ids:
        return []
    return [
        {
            "id": advice.pk,
            "task": advice.task,
            "findingId": advice.finding_id,
            "result": advice.result,
            "agreement": advice.agreement,
            "threshold": advice.threshold,
            "promptDigest": {"sha256": advice.prompt_digest},
            "completedAt": rfc3339(advice.completed_at),
            "answers": [
                {
                    "provider": answer.provider_name,
                    "kind": answer.kind,
                    "model": answer.model,
                    "weight": answer.weight,
                    "status": answer.status,
                    "data": answer.data,
                    "tokensIn": answer.tokens_in,
                    "tokensOut": answer.tokens_out,
                }
                for answer in advice.answers.all()
            ],
        }
        for advice in advice_for_evidence(tenant=decision.tenant, advice_ids=ids)
    ]


def policy_uri(decision: Decision) -> str:
    version = decision.policy_version
    if not version.policy.tenant_id:
        owner = "global"
    elif version.policy.tenant_id == decision.tenant_id:
        owner = decision.tenant.slug
    else:
        owner = version.policy.tenant.slug
    return f"fixops:policy/{owner}/{version.policy_id}/v{version.number}"


def resource_uri(decision: Decision) -> str:
    application = decision.application
    base = application.repo_url or f"fixops:application/{decision.tenant.slug}/{application.pk}"
    return f"{base}@{decision.commit}" if decision.commit else base


def decision_statement(decision: Decision, scans: list | None = None) -> dict[str, Any]:
    """The statement for `decision` (reads its policy, findings and acceptances, and its scans
    unless the caller, which just linked them, passes them)."""
    version = decision.policy_version
    subjects = decision_subjects(decision, scans)

    finding_ids = _finding_ids(decision.reasons)
    limit = settings.FIXOPS_EVIDENCE_MAX_FINDINGS
    findings = (
        Finding.objects.for_tenant(decision.tenant)
        .filter(pk__in=finding_ids[:limit])
        .only("id", "dedup_key", "severity", "vuln_id", "rule_id", "risk_score", "risk_explanation")
        .order_by("id")
        if finding_ids
        else []
    )
    acceptance_ids = _acceptance_ids(decision)
    acceptances = (  # most decisions apply none: no query then
        RiskAcceptance.objects.for_tenant(decision.tenant)
        .filter(pk__in=acceptance_ids)
        .order_by("id")
        if acceptance_ids
        else []
    )
    outcome_predicate: dict[str, Any] = {
        "decisionId": decision.pk,
        "tenant": decision.tenant.slug,
        "application": {"id": decision.application_id, "name": decision.application.name},
        "outcome": decision.outcome,
        "confidence": decision.confidence,
        "reasons": decision.reasons,
        "counts": decision.counts,
        "commit": decision.commit,
        "branch": decision.branch,
        "pipelineRun": decision.pipeline_run,
        "engine": decision.engine,
        "error": decision.error,
        "requestedBy": decision.requested_by,
        "policy": {
            "name": version.policy.name,
            "version": version.number,
            "digest": {"sha256": version.digest},
        },
        "inputDigest": {"sha256": decision.input_digest},
        "drivingFindings": [
            {
                "id": finding.pk,
                "dedupKey": finding.dedup_key,
                "severity": finding.severity,
                "vulnId": finding.vuln_id,
                "ruleId": finding.rule_id,
                "riskScore": finding.risk_score,
                "riskComponents": finding.risk_explanation,
            }
            for finding in findings
        ],
        "drivingFindingsTotal": len(finding_ids),
        "acceptances": [
            {
                "id": acceptance.pk,
                "scope": acceptance.scope,
                "findingId": acceptance.finding_id,
                "vulnId": acceptance.vuln_id,
                "ruleId": acceptance.rule_id,
                "pathPattern": acceptance.path_pattern,
                "status": acceptance.status,
                "requestedBy": acceptance.requested_label,
                "approvedBy": acceptance.reviewed_label,
                "expiresAt": rfc3339(acceptance.expires_at),
            }
            for acceptance in acceptances
        ],
    }
    advice = _advice_used(decision)
    if advice:
        outcome_predicate["advice"] = advice
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": VSA_TYPE,
        "predicate": {
            "verifier": {
                "id": settings.FIXOPS_EVIDENCE_VERIFIER_ID,
                "version": {"engine": decision.engine},
            },
            "timeVerified": rfc3339(decision.created_at),
            "resourceUri": resource_uri(decision),
            "policy": {"uri": policy_uri(decision), "digest": {"sha256": version.digest}},
            "inputAttestations": [],
            "verificationResult": "PASSED" if decision.outcome == Outcome.ALLOW else "FAILED",
            "verifiedLevels": [f"FIXOPS_GATE_{decision.outcome}"],
            DECISION_TYPE: outcome_predicate,
        },
    }
