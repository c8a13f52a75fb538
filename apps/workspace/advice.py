"""The AI advice panel of the finding and decision pages (docs/advisory.md, "Panels"): the
latest advice on the subject, shown for what it is (a consensus, a single model's answer, or a
disagreement with its votes), each provider's answer, and the analysts' verdicts. Absent (None)
when advisory is not available for the tenant."""

from __future__ import annotations

from typing import Any

from apps.advisory.advice_selectors import advice_feedback_of, advice_latest
from apps.advisory.advising import REVIEWABLE_OUTCOMES, advice_refresh
from apps.advisory.models import Advice, AdviceStatus
from apps.advisory.services import available
from apps.findings.models import Finding
from apps.policies.models import Decision
from apps.tenants.models import Tenant

RESULT_LABELS = {
    "consensus": "Consensus",
    "single_model": "Single model: one provider answered, this is not a consensus",
    "disagreement": "The models disagree: no consensus, the votes are the result",
    "no_answer": "No provider gave a valid answer",
}
# The free text shown beside the votes, per task (never voted on).
TEXT_FIELDS = {
    "triage": (("fix.detail", "Fix"), ("rationale", "Rationale")),
    "brief": (("smallest_change", "Smallest change"),),
}


def _dotted(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _fields(advice: Advice) -> list[dict[str, Any]]:
    rows = []
    for field in (advice.outcome or {}).get("fields", []):
        votes = [
            {
                "value": vote["value"],
                "providers": ", ".join(vote["providers"]),
                "winning": vote["winning"],
            }
            for vote in field["votes"]
        ]
        rows.append(
            {
                "field": field["field"],
                "winner": "tie" if field["tied"] else field["winner"],
                "agreement": field["agreement"],
                "votes": votes,
                "dissent": ", ".join(field["dissent"]),
            }
        )
    return rows


def advice_panel(
    *,
    tenant: Tenant | None,
    user: Any,
    may_act: bool,
    finding: Finding | None = None,
    decision: Decision | None = None,
) -> dict[str, Any] | None:
    """The panel's context, or None when advisory is absent for the tenant."""
    if tenant is None or not available(tenant):
        return None
    advice = advice_latest(tenant=tenant, finding=finding, decision=decision)
    panel: dict[str, Any] = {
        "task": "triage" if finding is not None else "brief",
        "may_request": may_act and (decision is None or decision.outcome in REVIEWABLE_OUTCOMES),
        "advice": None,
    }
    if advice is None:
        return panel
    advice = advice_refresh(advice=advice)
    feedback = list(advice_feedback_of(advice=advice))
    answer = (advice.outcome or {}).get("answer") or {}
    panel.update(
        {
            "advice": advice,
            "result_label": RESULT_LABELS.get(advice.result, ""),
            "fields": _fields(advice),
            "answers": list(advice.answers.all()),
            "text": [
                (label, _dotted(answer, path))
                for path, label in TEXT_FIELDS[advice.task]
                if _dotted(answer, path)
            ],
            "representative": (advice.outcome or {}).get("representative"),
            "agree": sum(1 for f in feedback if f.verdict == "agree"),
            "disagree": sum(1 for f in feedback if f.verdict == "disagree"),
            "mine": next((f.verdict for f in feedback if f.user_id == user.pk), ""),
            "may_rate": may_act and advice.status == AdviceStatus.DONE,
        }
    )
    return panel
