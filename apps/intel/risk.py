"""The FixOps risk model: how likely a finding is to be exploited, how much it would hurt.

Every number is either computed from data (EPSS, KEV, CVSS vectors, the application's context)
or a named, documented default that a tenant can override (RiskSettings.likelihood_ratios).
docs/risk.md gives the formulas with a worked example.

Likelihood, as a Bayesian update in log-odds:
    prior p0        EPSS probability when the vulnerability has one; otherwise a default per
                    severity (CVE without EPSS) or per kind and severity (SAST, IaC, secrets).
    evidence        each present piece of evidence adds ln(LR) to the log-odds:
                    kev, exploit_public, internet_exposed / not_internet_exposed,
                    vex_not_affected, vex_exploitable.
    p               sigmoid(logit(p0) + sum ln(LR_i))
    likelihood      logit(p) mapped linearly from [logit(1e-4), logit(0.95)] onto [0, 1]:
                    EPSS is heavy-tailed, so log-odds spread findings where raw p would not.
Impact:
    base            CVSS base score / 10, recomputed from the vector with the `cvss` library
                    (v4.0 preferred over v3.x); a severity default when there is no vector.
    x criticality   low 0.6, medium 0.8, high 1.0, critical 1.2 (the application's)
    x data          public 0.8, internal 1.0, confidential 1.15, restricted 1.3, capped at 1.
Score:
    100 * sqrt(likelihood * impact), one decimal: the geometric mean keeps either factor at 0
    from being hidden by the other, and reads as 0-100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cvss import CVSS3, CVSS4, CVSSError

MODEL = "fixops-risk-v1"

DEFAULT_LIKELIHOOD_RATIOS: dict[str, float] = {
    # Listed in CISA KEV: exploitation observed in the wild.
    "kev": 20.0,
    # A public exploit or proof of concept is referenced.
    "exploit_public": 3.0,
    # The application is reachable from the internet, or explicitly not.
    "internet_exposed": 2.0,
    "not_internet_exposed": 0.5,
    # A VEX statement says the product is not affected / is exploitable.
    "vex_not_affected": 0.05,
    "vex_exploitable": 2.0,
}
# Prior probability of exploitation in 30 days when no EPSS score exists (labelled defaults).
SEVERITY_PRIOR = {"critical": 0.05, "high": 0.02, "medium": 0.005, "low": 0.001, "info": 0.0005}
# Leaked credentials are trivially usable once found; other kinds follow severity.
KIND_PRIOR = {"secret": 0.3}
SEVERITY_IMPACT = {"critical": 0.95, "high": 0.8, "medium": 0.55, "low": 0.3, "info": 0.1}
CRITICALITY_FACTOR = {"low": 0.6, "medium": 0.8, "high": 1.0, "critical": 1.2}
DATA_FACTOR = {"public": 0.8, "internal": 1.0, "confidential": 1.15, "restricted": 1.3}
P_LOW, P_HIGH = 1e-4, 0.95


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@dataclass(frozen=True)
class Intel:
    """What is known about a finding's vulnerability (merged across its alias group)."""

    epss: float | None = None
    kev: bool = False
    exploit_public: bool = False
    cvss_vectors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """The finding's own facts and its application's context."""

    kind: str
    severity: str
    vex_state: str = ""
    internet_exposed: bool = False
    criticality: str = "medium"
    data_classification: str = "internal"
    has_vulnerability: bool = False


@dataclass
class Assessment:
    score: float
    likelihood: float
    probability: float
    impact: float
    explanation: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=65536)
def best_cvss(vectors: tuple[str, ...]) -> tuple[str, float] | None:
    """(vector, base score) of the best vector: v4.0 first, then v3.x; invalid ones skipped.

    Cached: parsing a vector costs 20-40 µs and the same vectors recur across findings."""
    ordered = sorted(vectors, key=lambda v: (not v.startswith("CVSS:4"), v))
    for vector in ordered:
        try:
            if vector.startswith("CVSS:4"):
                return vector, float(CVSS4(vector).base_score)
            if vector.startswith("CVSS:3"):
                return vector, float(CVSS3(vector).base_score)
        except (CVSSError, ValueError, KeyError):
            continue
    return None


def assess(context: Context, intel: Intel, ratios: dict[str, float] | None = None) -> Assessment:
    """Score one finding and explain every component of the score."""
    lr = {**DEFAULT_LIKELIHOOD_RATIOS, **(ratios or {})}
    prior = _prior(context, intel)
    evidence = _evidence(context, intel, lr)
    log_odds = _logit(prior["p"]) + sum(math.log(item["likelihood_ratio"]) for item in evidence)
    probability = _sigmoid(log_odds)
    likelihood = (log_odds - _logit(P_LOW)) / (_logit(P_HIGH) - _logit(P_LOW))
    likelihood = min(max(likelihood, 0.0), 1.0)
    impact, impact_parts = _impact(context, intel)
    score = round(100 * math.sqrt(likelihood * impact), 1)
    return Assessment(
        score=score,
        likelihood=likelihood,
        probability=probability,
        impact=impact,
        explanation={
            "model": MODEL,
            "score": score,
            "formula": "100 * sqrt(likelihood * impact)",
            "likelihood": {
                "prior": prior,
                "evidence": evidence,
                "probability": round(probability, 6),
                "value": round(likelihood, 4),
            },
            "impact": {**impact_parts, "value": round(impact, 4)},
        },
    )


def _prior(context: Context, intel: Intel) -> dict[str, Any]:
    if intel.epss is not None:
        source, p = "epss", intel.epss
    elif context.kind in KIND_PRIOR:
        source, p = f"default for {context.kind}", KIND_PRIOR[context.kind]
    else:
        source, p = (
            f"default for severity {context.severity}",
            SEVERITY_PRIOR.get(context.severity, SEVERITY_PRIOR["medium"]),
        )
    return {"source": source, "p": p, "log_odds": round(_logit(p), 4)}


def _evidence(context: Context, intel: Intel, lr: dict[str, float]) -> list[dict[str, Any]]:
    present = []
    if intel.kev:
        present.append("kev")
    if intel.exploit_public:
        present.append("exploit_public")
    present.append("internet_exposed" if context.internet_exposed else "not_internet_exposed")
    if context.vex_state in ("not_affected", "false_positive"):
        present.append("vex_not_affected")
    elif context.vex_state == "exploitable":
        present.append("vex_exploitable")
    return [
        {"name": name, "likelihood_ratio": lr[name], "log_odds": round(math.log(lr[name]), 4)}
        for name in present
        if lr.get(name, 1.0) > 0
    ]


def _impact(context: Context, intel: Intel) -> tuple[float, dict[str, Any]]:
    cvss = best_cvss(intel.cvss_vectors)
    if cvss is not None:
        vector, base_score = cvss
        base = {
            "source": "cvss",
            "vector": vector,
            "base_score": base_score,
            "value": round(base_score / 10, 4),
        }
    else:
        value = SEVERITY_IMPACT.get(context.severity, SEVERITY_IMPACT["medium"])
        base = {"source": f"default for severity {context.severity}", "value": value}
    criticality = CRITICALITY_FACTOR.get(context.criticality, 1.0)
    data = DATA_FACTOR.get(context.data_classification, 1.0)
    impact = min(1.0, base["value"] * criticality * data)
    return impact, {
        "base": base,
        "criticality": {"value": context.criticality, "factor": criticality},
        "data_classification": {"value": context.data_classification, "factor": data},
    }
