"""Simulation: replay recorded decisions with a candidate policy and report what would change.

Each decision stored its exact input document, so a replay answers "what would this policy have
said then", not "what would it say about today's findings". The caveat is stated in the answer:
findings the recorded candidate filter left out are not in the stored input, so a candidate
with a wider filter cannot see them (`warnings`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.policies import engine
from apps.policies.digests import policy_digest
from apps.policies.evaluation import evaluate
from apps.policies.models import Decision, Policy, PolicyVersion
from apps.policies.profiles import candidate_filter
from apps.tenants.models import Tenant
from fixops.platform.errors import Invalid, NotFound

MAX_REPLAY = 1000


def simulate(
    *,
    tenant: Tenant,
    policy: Policy,
    source: str | None = None,
    parameters: dict | None = None,
    version_number: int | None = None,
    last: int = 50,
    since: datetime | None = None,
    until: datetime | None = None,
    all_decisions: bool = False,
) -> dict[str, Any]:
    candidate = _candidate(policy, source, parameters, version_number)
    decisions = Decision.objects.for_tenant(tenant).select_related("application", "policy_version")
    if not all_decisions:
        decisions = decisions.filter(policy_version__policy=policy)
    if since:
        decisions = decisions.filter(created_at__gte=since)
    if until:
        decisions = decisions.filter(created_at__lt=until)
    limit = min(last, MAX_REPLAY)
    rows = decisions.order_by("-id")[:limit].iterator(chunk_size=50)  # inputs are large
    results = []
    transitions: dict[str, int] = {}
    narrower = 0
    wanted = candidate_filter(candidate.parameters)
    for decision in rows:
        verdict = evaluate(candidate, decision.input)
        before = {_key(r) for r in decision.reasons}
        after = {_key(r) for r in verdict.reasons}
        changed = verdict.outcome != decision.outcome
        transitions_key = f"{decision.outcome}->{verdict.outcome}"
        transitions[transitions_key] = transitions.get(transitions_key, 0) + 1
        if decision.input.get("omitted", {}).get("count") and wanted != decision.input[
            "omitted"
        ].get("filter"):
            narrower += 1
        results.append(
            {
                "decision_id": decision.pk,
                "application": decision.application.name,
                "created_at": decision.created_at,
                "before": decision.outcome,
                "after": verdict.outcome,
                "changed": changed,
                "added_reasons": [r for r in verdict.reasons if _key(r) in after - before],
                "removed_reasons": [r for r in decision.reasons if _key(r) in before - after],
            }
        )
    warnings = []
    if narrower:
        warnings.append(
            f"{narrower} replayed decision(s) recorded inputs under a different candidate "
            "filter and left findings out; the candidate saw only what was recorded"
        )
    return {
        "policy_id": policy.pk,
        "candidate": {
            "digest": candidate.digest,
            "version": version_number,
        },
        "replayed": len(results),
        "changed": sum(1 for r in results if r["changed"]),
        "transitions": transitions,
        "warnings": warnings,
        "results": results,
    }


def _key(reason: dict) -> tuple:
    return (reason["level"], reason["rule"], tuple(reason.get("finding_ids", ())))


def _candidate(
    policy: Policy, source: str | None, parameters: dict | None, number: int | None
) -> PolicyVersion:
    """An unsaved PolicyVersion for a draft source, or a stored version by number."""
    if source is not None:
        params = parameters if parameters is not None else _active_parameters(policy)
        try:
            engine.validate(source, params)
        except engine.EngineError as exc:
            raise Invalid(
                f"The candidate policy is not valid: {exc.message}",
                code="invalid_policy",
                details=exc.as_dict(),
            ) from None
        return PolicyVersion(
            policy=policy,
            number=0,
            source=source,
            parameters=params,
            digest=policy_digest(source, params),
        )
    if number is None:
        raise Invalid("Give a candidate `source` or a `version` number.", code="no_candidate")
    version = PolicyVersion.objects.filter(policy=policy, number=number).first()
    if version is None:
        raise NotFound(f"Policy has no version {number}.", code="not_found")
    return version


def _active_parameters(policy: Policy) -> dict:
    return policy.active_version.parameters if policy.active_version_id else {}
