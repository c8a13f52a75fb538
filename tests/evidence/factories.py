"""Decisions made directly (the decision service is built elsewhere) and their evidence."""

from __future__ import annotations

from django.utils import timezone

from apps.evidence.models import EvidenceBundle
from apps.evidence.services import bundle_create, bundle_store
from apps.pipeline.statement import decision_statement
from apps.policies.digests import document_digest, policy_digest
from apps.policies.models import Decision, Policy, PolicyVersion
from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory

SOURCE = 'package fixops\n\ndefault decision := "ALLOW"\n'


def policy_version(tenant, *, name: str = "baseline") -> PolicyVersion:
    policy, _ = Policy.objects.get_or_create(tenant=tenant, name=name)
    number = policy.versions.count() + 1
    parameters = {"max_critical": 0}
    return PolicyVersion.objects.create(
        policy=policy,
        number=number,
        source=SOURCE,
        parameters=parameters,
        digest=policy_digest(SOURCE, parameters),
    )


def make_decision(
    tenant,
    *,
    outcome: str = "BLOCK",
    application=None,
    scans: int = 2,
    findings: int = 2,
    acceptances=(),
    commit: str = "0123456789abcdef",
    version: PolicyVersion | None = None,
) -> Decision:
    application = application or ApplicationFactory(tenant=tenant)
    scan_rows = [ScanFactory(tenant=tenant, application=application) for _ in range(scans)]
    finding_rows = [
        FindingFactory(
            tenant=tenant,
            application=application,
            risk_score=80.0 + i,
            risk_explanation={"prior": 0.4, "kev": True, "components": [{"epss": 0.91}]},
        )
        for i in range(findings)
    ]
    document = {
        "application": {"id": application.pk},
        "findings": [{"id": f.pk, "severity": f.severity} for f in finding_rows],
        "acceptances": [{"id": a.pk} for a in acceptances],
    }
    decision = Decision.objects.create(
        tenant=tenant,
        application=application,
        outcome=outcome,
        confidence=0.875,
        reasons=[
            {
                "level": "deny" if outcome == "BLOCK" else "warn",
                "rule": "no_critical",
                "message": "critical findings present",
                "finding_ids": [f.pk for f in finding_rows],
            }
        ],
        counts={"critical": len(finding_rows)},
        commit=commit,
        branch="main",
        pipeline_run="run-1",
        policy_version=version or policy_version(tenant),
        engine="regopy",
        input=document,
        input_digest=document_digest(document),
        created_at=timezone.now(),
    )
    decision.scans.set(scan_rows)
    return decision


def make_bundle(decision: Decision, scans: list | None = None, *, store: bool = True):
    """The evidence of `decision` as the gate records it (pending), then stored as the task
    after commit stores it (unless `store` is False)."""
    bundle = bundle_create(
        tenant=decision.tenant,
        decision=decision,
        statement=decision_statement(decision, scans),
        name=f"decision-{decision.pk}",
    )
    if store:
        bundle_store(bundle_id=bundle.pk)
        bundle = EvidenceBundle.objects.get(pk=bundle.pk)
    return bundle
