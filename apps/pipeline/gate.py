"""The gate: decide whether a pipeline may ship, record the decision and prove it.

1. The scans the decision covers and the policies assigned to the application (findings,
   policies).
2. The policy input from the application's open findings, intel and acceptances, and how
   complete and fresh it is (policies.inputs, policies.confidence); `input.advice` holds the
   AI advice on those findings that was complete before now (advisory): the gate never waits
   for a model, and only a policy written to read it can act on it.
3. Evaluate the enforcing policy, and the log-only ones beside it (policies.evaluation). An
   engine failure closes the gate (BLOCK with the engine's message); it never allows.
4. One transaction: the decision row (policies), its in-toto statement (pipeline.statement)
   signed and recorded as a pending evidence bundle (evidence), and the outbox messages that
   announce it (connectors). A decision is never visible without its proof and its messages.
5. After commit: a task stores the bundle's write-once object (evidence), so a rolled-back
   decision never leaves an undeletable object behind; beat stores whatever that task missed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.advisory.advice_selectors import advice_for_gate
from apps.advisory.services import available as advisory_available
from apps.connectors.announce import decision_announce
from apps.evidence.services import bundle_create
from apps.evidence.tasks import bundle_store_task
from apps.findings.models import Application, Scan
from apps.findings.selectors import scan_list
from apps.pipeline.statement import decision_statement
from apps.policies import confidence, inputs
from apps.policies.evaluation import evaluate, evaluate_shadow
from apps.policies.models import Decision
from apps.policies.services import decision_create, policies_for
from apps.tenants.models import Tenant
from fixops.platform import metrics
from fixops.platform.errors import Invalid

logger = logging.getLogger(__name__)


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
    """Evaluate the application's policy now and record the decision with its evidence."""
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
    if advisory_available(tenant):
        built.document["advice"] = advice_for_gate(
            tenant=tenant, application=application, before=now
        )
    value, detail = confidence.assess(built.document, built.confidence_inputs)
    enriched = clock()

    verdict = evaluate(version, built.document, opa_url=settings.opa_url)
    shadow = [evaluate_shadow(v, built.document, opa_url=settings.opa_url) for v in shadows]
    evaluated = clock()

    with transaction.atomic():
        persist_started = clock()
        decision = decision_create(
            tenant=tenant,
            application=application,
            version=version,
            verdict=verdict,
            document=built.document,
            confidence=value,
            confidence_detail=detail,
            shadow=shadow,
            scans=scans,
            engine_name="opa" if settings.opa_url else "regopy",
            commit=commit,
            branch=branch,
            pipeline_run=pipeline_run,
            requested_by=actor,
            created_at=now,
            timings_ms={
                "load": _ms(started, loaded),
                "enrich": _ms(loaded, enriched),
                "evaluate": _ms(enriched, evaluated),
            },
        )
        bundle = bundle_create(
            tenant=tenant,
            decision=decision,
            statement=decision_statement(decision, scans),
            name=f"decision-{decision.pk}",
        )
        decision_announce(decision)
        bundle_id = bundle.pk
        # robust: a broker that is down must not fail a committed decision; beat stores it.
        transaction.on_commit(lambda: bundle_store_task.delay(bundle_id=bundle_id), robust=True)
        # Known only once the rows are written: logged and kept on the returned object (the
        # benchmark reads it), not stored, since decisions are never updated.
        decision.timings_ms["persist"] = _ms(persist_started, clock())
        outcome, seconds = decision.outcome, clock() - started
        transaction.on_commit(lambda: _count_decision(outcome, seconds))
    logger.info(
        "decision %s: %s (confidence %s) for %s in %s ms",
        decision.pk,
        decision.outcome,
        decision.confidence,
        application.name,
        decision.timings_ms,
    )
    return decision


def _count_decision(outcome: str, seconds: float) -> None:
    metrics.decisions.labels(outcome).inc()
    metrics.decision_latency.observe(seconds)


def _scans_for(tenant: Tenant, application: Application, scan_ids: list[int]) -> list[Scan]:
    if not scan_ids:
        return []
    covered = scan_list(tenant=tenant, filters={"application": application.pk})
    scans = list(covered.filter(pk__in=scan_ids))
    missing = sorted(set(scan_ids) - {s.pk for s in scans})
    if missing:
        raise Invalid(
            f"Scan(s) {missing} do not exist in application {application.name!r}.",
            code="unknown_scans",
            details={"scans": missing},
        )
    return scans


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 2)
