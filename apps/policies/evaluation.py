"""Evaluate a policy version over a policy input: the verdict, and what log-only policies say.

An engine failure closes the gate (BLOCK with the engine's message as the reason); it never
produces an ALLOW.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from apps.policies import engine, opa
from apps.policies.models import Outcome, PolicyVersion

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


def evaluate_shadow(version: PolicyVersion, document: dict, *, opa_url: str = "") -> dict:
    """What a log-only policy would have decided (recorded on the decision, never enforced)."""
    verdict = evaluate(version, document, opa_url=opa_url)
    return {
        "policy_id": version.policy_id,
        "policy": version.policy.name,
        "version": version.number,
        "digest": version.digest,
        "outcome": verdict.outcome,
        "reasons": verdict.reasons,
    }
