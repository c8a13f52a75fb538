"""Confidence: how complete and fresh the decision's inputs were — not how sure a model is.

It starts at 1 and each shortfall multiplies it by a documented factor (docs/policies.md):

- intel feeds (EPSS, KEV): a feed older than the tenant's `feed_max_age_hours` × 0.9, a feed
  never loaded × 0.75 — each, and only when the application has vulnerability findings;
- scanner coverage: with expected kinds E and present kinds P of the decision's scans,
  × (0.6 + 0.4 · |P ∩ E| / |E|); a decision with no scans in scope × 0.8 (coverage unknown);
- enrichment: with u the share of vulnerability findings lacking EPSS data, × (1 − 0.3 · u);
- lost results: with the results and lost results summed over the scans in scope,
  × (1 − 0.5 · lost / results); and whenever anything was lost the value is at most
  LOST_CEILING (a factor "lost:ceiling" brings it there), so a decision over a scan that lost
  results is never made at full confidence.

Every factor that applied is listed with its reason, so the number can be explained.
"""

from __future__ import annotations

from typing import Any

STALE_FEED = 0.9
MISSING_FEED = 0.75
NO_SCANS = 0.8
LOST_WEIGHT = 0.5
LOST_CEILING = 0.95


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
    lost = _lost_factor(document.get("scans") or [])
    if lost is not None:
        factors.append(lost)
    value = 1.0
    for factor in factors:
        value *= factor["factor"]
    if lost is not None and value > LOST_CEILING:
        factors.append(
            _factor(
                "lost:ceiling",
                LOST_CEILING / value,
                f"results were lost: confidence is at most {LOST_CEILING}",
            )
        )
        value = LOST_CEILING
    return round(value, 3), {"factors": factors}


def _lost_factor(scans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """× (1 − 0.5 · lost / results) over the scans in scope, naming the lossy scans."""
    lossy = [s for s in scans if s["counts"]["lost"] > 0]
    if not lossy:
        return None
    lost = sum(s["counts"]["lost"] for s in scans)
    results = max(sum(s["counts"]["results"] for s in scans), lost)
    named = ", ".join(
        f"scan {s['id']} ({s['tool'] or s['format']}): {s['counts']['lost']} of "
        f"{s['counts']['results']}"
        for s in lossy
    )
    return _factor(
        "lost",
        1 - LOST_WEIGHT * lost / results,
        f"{lost} of {results} results in scope could not be read: {named}",
    )


# What each factor means, for people reading a decision (the admin's decision page): keyed by
# the factor's name, or its prefix before ":" (feed:epss, feed:kev).
MEANINGS = {
    "feed": "An intel feed (EPSS or KEV) was stale or never loaded, so exploitation data may be "
    "missing or out of date: × 0.9 when older than the tenant's feed_max_age_hours, × 0.75 "
    "when never loaded.",
    "coverage": "The decision's scans did not cover every kind of scanner expected (e.g. no "
    "secret scan): × (0.6 + 0.4 · share of expected kinds covered), or × 0.8 with no scans in "
    "scope at all.",
    "enrichment": "Some vulnerability findings had no EPSS score, so their risk rests on "
    "severity alone: × (1 − 0.3 · share without EPSS).",
    "lost": "Some results in the scans could not be read (lost), so findings may be missing: "
    "× (1 − 0.5 · lost / results).",
    "lost:ceiling": f"Anything lost at all caps confidence at {LOST_CEILING}.",
}


def factor_meaning(name: str) -> str:
    """What the confidence factor `name` means (docs/policies.md, Confidence)."""
    return MEANINGS.get(name) or MEANINGS.get(name.split(":", 1)[0], "")


def _factor(name: str, factor: float, reason: str) -> dict[str, Any]:
    return {"name": name, "factor": round(factor, 3), "reason": reason}
