"""Confidence: how complete and fresh the decision's inputs were — not how sure a model is.

It starts at 1 and each shortfall multiplies it by a documented factor (docs/policies.md):

- intel feeds (EPSS, KEV): a feed older than the tenant's `feed_max_age_hours` × 0.9, a feed
  never loaded × 0.75 — each, and only when the application has vulnerability findings;
- scanner coverage: with expected kinds E and present kinds P of the decision's scans,
  × (0.6 + 0.4 · |P ∩ E| / |E|); a decision with no scans in scope × 0.8 (coverage unknown);
- enrichment: with u the share of vulnerability findings lacking EPSS data, × (1 − 0.3 · u).

Every factor that applied is listed with its reason, so the number can be explained.
"""

from __future__ import annotations

from typing import Any

STALE_FEED = 0.9
MISSING_FEED = 0.75
NO_SCANS = 0.8


def assess(document: dict[str, Any], inputs: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    factors: list[dict[str, Any]] = []
    context = document["context"]
    if inputs.get("vuln_findings"):
        for name, feed in sorted(context["feeds"].items()):
            if not feed["loaded"]:
                factors.append(_factor(f"feed:{name}", MISSING_FEED, f"{name} never loaded"))
            elif not feed["fresh"]:
                factors.append(
                    _factor(f"feed:{name}", STALE_FEED, f"{name} is {feed['age_hours']} hours old")
                )
    expected = set(context["expected_kinds"])
    if not document["scope"]["scans"]:
        factors.append(_factor("coverage", NO_SCANS, "no scans in the decision's scope"))
    elif expected:
        covered = len(expected & set(context["present_kinds"])) / len(expected)
        if covered < 1:
            missing = ", ".join(context["missing_kinds"])
            factors.append(
                _factor("coverage", 0.6 + 0.4 * covered, f"no scan in scope covers: {missing}")
            )
    vuln = inputs.get("vuln_findings", 0)
    if vuln and inputs.get("unenriched"):
        share = inputs["unenriched"] / vuln
        factors.append(
            _factor(
                "enrichment",
                1 - 0.3 * share,
                f"{inputs['unenriched']} of {vuln} vulnerability findings lack EPSS data",
            )
        )
    value = 1.0
    for factor in factors:
        value *= factor["factor"]
    return round(value, 3), {"factors": factors}


def _factor(name: str, factor: float, reason: str) -> dict[str, Any]:
    return {"name": name, "factor": round(factor, 3), "reason": reason}
