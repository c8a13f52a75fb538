"""The gate: build the input, evaluate the policy, record an immutable decision.

The decision row, its scans, its evidence bundle and its outbox messages are written in one
transaction, so a decision is never visible without its proof. Evaluation failures close the
gate (BLOCK with the engine's message as the reason); they never produce an ALLOW.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.connectors.announce import decision_announce
from apps.evidence.services import bundle_for_decision
from apps.findings.models import Application, Scan
from apps.policies import confidence, engine, inputs, opa
from apps.policies.models import Decision, Outcome, PolicyVersion
from apps.policies.services import policies_for
from apps.tenants.models import Tenant
from fixops.platform.errors import Invalid

logger = logging.getLogger(__name__)

ENGINE_ERROR_RULE = "FX-ENGINE-ERROR"


@dataclass
class Verdict:
    outcome: str
    reasons: list[dict[str, Any]]
    result: dict[str, Any]
    error: str = ""


def evaluate(version: PolicyVersion, document: dict, *, opa_url: str = "") -> Verdict:
    """Evaluate one policy version; an engine failure becomes a closed gate, not an error."""
    try:
        if opa_url:
            evaluation = opa.evaluate(opa_url, version.source, version.parameters, document)
        else:
            compiled = engine.compile_policy(version.source, version.parameters)
            evaluation = compiled.evaluate(document)
    except engine.EngineError as exc:
        logger.warning(
            "policy %s v%s failed; gate closed: %s", version.policy_id, version.number, exc
        )
        reason = {
            "level": "deny",
            "rule": ENGINE_ERROR_RULE,
            "message": f"The policy could not decide, so the gate is closed: {exc.message}",
            "finding_ids": [],
        }
        return Verdict(Outcome.BLOCK, [reason], {}, error=exc.message)
    return Verdict(evaluation.outcome, [r.as_dict() for r in evaluation.reasons], evaluation.result)


def _scans_for(tenant: Tenant, application: Application, scan_ids: list[int]) -> list[Scan]:
    if not scan_ids:
        return []
    scans = list(Scan.objects.for_tenant(tenant).filter(pk__in=scan_ids, application=application))
    missing = sorted(set(scan_ids) - {s.pk for s in scans})
    if missing:
        raise Invalid(
            f"Scan(s) {missing} do not exist in application {application.name!r}.",
            code="unknown_scans",
            details={"scans": missing},
        )
    return scans


def decision_make(
    *,
    tenant: Tenant,
    application: Application,
    commit: str = "",
    branch: str = "",
    pipeline_run: str = "",
    scan_ids: list[int] | None = None,
    actor: str = "",
    now: datetime | None = None,
) -> Decision:
    clock = time.perf_counter
    started = clock()
    now = now or timezone.now()
    scans = _scans_for(tenant, application, list(scan_ids or []))
    version, shadows = policies_for(tenant=tenant, application=application)
    settings = inputs.settings_for(tenant)
    loaded = clock()
    built = inputs.build(
        tenant=tenant,
        application=application,
        scans=scans,
        commit=commit,
        branch=branch,
        pipeline_run=pipeline_run,
        parameters=version.parameters,
        now=now,
        settings=settings,
    )
    value, detail = confidence.assess(built.document, built.confidence_inputs)
    enriched = clock()
    verdict = evaluate(version, built.document, opa_url=settings.opa_url)
    shadow = [_shadow(v, built.document, settings.opa_url) for v in shadows]
    evaluated = clock()
    summary = built.document["summary"]
    counts = {
        "open": summary["open"],
        "accepted": summary["accepted"],
        "by_severity": summary["by_severity"],
        "in_input": len(built.document["findings"]),
        "omitted": built.document["omitted"]["count"],
        **{
            level: sum(1 for r in verdict.reasons if r["level"] == level) for level in engine.LEVELS
        },
    }
    with transaction.atomic():
        decision = Decision(
            tenant=tenant,
            application=application,
            outcome=verdict.outcome,
            confidence=value,
            confidence_detail=detail,
            reasons=verdict.reasons,
            counts=counts,
            commit=commit,
            branch=branch,
            pipeline_run=pipeline_run,
            policy_version=version,
            engine="opa" if settings.opa_url else "regopy",
            input=built.document,
            input_digest=engine.document_digest(built.document),
            result=verdict.result,
            error=verdict.error,
            shadow=shadow,
            requested_by=actor[:150],
            created_at=now,
            timings_ms={
                "load": _ms(started, loaded),
                "enrich": _ms(loaded, enriched),
                "evaluate": _ms(enriched, evaluated),
            },
        )
        persist_started = clock()
        decision.save()
        if scans:
            decision.scans.set(scans)
        _after_decision(decision, scans)
        # Known only once the row is written: logged and kept on the returned object (the
        # benchmark reads it), not stored, since decisions are never updated.
        decision.timings_ms["persist"] = _ms(persist_started, clock())
    logger.info(
        "decision %s: %s (confidence %s) for %s in %s ms",
        decision.pk,
        decision.outcome,
        decision.confidence,
        application.name,
        decision.timings_ms,
    )
    return decision


def _after_decision(decision: Decision, scans: list[Scan]) -> None:
    """The signed evidence bundle and the outbox messages (Slack, GitHub check run,
    Confluence report), inside the decision's transaction: all or nothing."""
    bundle_for_decision(decision, scans)
    decision_announce(decision)


def _shadow(version: PolicyVersion, document: dict, opa_url: str) -> dict[str, Any]:
    verdict = evaluate(version, document, opa_url=opa_url)
    return {
        "policy_id": version.policy_id,
        "policy": version.policy.name,
        "version": version.number,
        "digest": version.digest,
        "outcome": verdict.outcome,
        "reasons": verdict.reasons,
    }


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 2)
