"""Profiles: how 10,000 findings reach a policy without 10,000 objects.

regopy converts input node by node (1,000 findings as objects: ~100 ms before any rule
runs; see test_bench_engine_floor), so the builder (apps/policies/inputs.py) hands each
finding row here as a tuple and this module groups every row into exactly one **profile**
(the findings sharing kind, severity, KEV, SSVC, actionability, acceptance, SLA state and
scope), with its count, the maxima of its continuous facts and its member ids. Rules name
profiles by `ref`; the engine expands refs into finding ids (`profile_members`), so no
finding is out of a rule's reach. Per-finding detail is kept for the rows the policy
version's candidate filter selects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from apps.findings.models.finding import SEVERITY_RANK

# CycloneDX/OpenVEX analysis states that say the finding does not apply.
NOT_AFFECTED_VEX = ("not_affected", "false_positive", "resolved", "resolved_with_pedigree")

# Which findings get a detailed entry in `findings`; a finding matching any clause does.
# `epss_at_least` defaults to the policy's own `epss_warn` parameter (see candidate_filter).
DEFAULT_CANDIDATES: dict[str, Any] = {
    "min_severity": None,
    "kinds": ["secret"],
    "kev": True,
    "ssvc": ["Act"],
    "past_sla": False,
    "accepted": True,
    "all": False,
}
# A finding row as the builder handles it: the schema's finding keys in this order, then
# `actionable`. Plain tuples, not dicts: there are 10,000 of them per decision on a large
# application, and only the candidates become dicts.
FINDING_KEYS = (
    "id",
    "kind",
    "severity",
    "risk",
    "epss",
    "kev",
    "ssvc",
    "vex",
    "status",
    "age_days",
    "sla_days",
    "past_sla",
    "in_scope",
    "rule",
    "vuln",
    "path",
    "component",
    "tool",
    "accepted",
)
(ID, KIND, SEVERITY, RISK, EPSS, KEV, SSVC, VEX, STATUS, AGE, SLA, PAST_SLA, IN_SCOPE,
 RULE, VULN, PATH, COMPONENT, TOOL, ACCEPTED, ACTIONABLE) = range(20)  # fmt: skip
PROFILE_KEYS = ("kind", "severity", "kev", "ssvc", "actionable", "accepted", "past_sla", "in_scope")


def summary_of(rows: list[tuple], unenriched: int) -> dict[str, Any]:
    """Counts over every open finding (accepted ones apart), in one pass."""
    by_severity: Counter = Counter()
    by_kind: Counter = Counter()
    by_ssvc: Counter = Counter()
    late: Counter = Counter()
    kev = in_scope = accepted = 0
    for row in rows:
        if row[ACCEPTED] is not None:
            accepted += 1
            continue
        by_severity[row[SEVERITY]] += 1
        by_kind[row[KIND]] += 1
        if row[SSVC]:
            by_ssvc[row[SSVC]] += 1
        if row[PAST_SLA]:
            late[row[SEVERITY]] += 1
        kev += row[KEV]
        in_scope += row[IN_SCOPE]
    return {
        "total": len(rows),
        "open": len(rows) - accepted,
        "accepted": accepted,
        "by_severity": dict(by_severity),
        "by_kind": dict(by_kind),
        "by_ssvc": dict(by_ssvc),
        "kev": kev,
        "past_sla": sum(late.values()),
        "past_sla_by_severity": dict(late),
        "in_scope": in_scope,
        "unenriched": unenriched,
    }


def candidate_test(f: dict[str, Any]) -> Callable[[tuple], bool]:
    """A predicate over finding rows for the candidate filter `f`, testing only the clauses
    it enables (it runs once per finding: 10,000 times per decision on a large application)."""
    if f.get("all"):
        return lambda row: True
    tests: list[Callable[[tuple], bool]] = []
    if f.get("min_severity"):
        floor = SEVERITY_RANK.get(f["min_severity"], 99)
        tests.append(lambda row: SEVERITY_RANK.get(row[SEVERITY], 0) >= floor)
    if f.get("kinds"):
        kinds = frozenset(f["kinds"])
        tests.append(lambda row: row[KIND] in kinds)
    if f.get("kev"):
        tests.append(lambda row: row[KEV])
    if f.get("ssvc"):
        ssvc = frozenset(f["ssvc"])
        tests.append(lambda row: row[SSVC] in ssvc)
    if f.get("epss_at_least") is not None:
        threshold = f["epss_at_least"]
        tests.append(lambda row: row[EPSS] is not None and row[EPSS] >= threshold)
    if f.get("past_sla"):
        tests.append(lambda row: row[PAST_SLA])
    if f.get("accepted"):
        tests.append(lambda row: row[ACCEPTED] is not None)
    return lambda row: any(test(row) for test in tests)


def candidate_filter(parameters: dict) -> dict[str, Any]:
    chosen = {**DEFAULT_CANDIDATES, **(parameters.get("candidates") or {})}
    chosen.setdefault("epss_at_least", parameters.get("epss_warn"))
    return chosen


def policy_view(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the policy sees it: profiles without their member id lists."""
    view = dict(document)
    view["profiles"] = [
        {k: v for k, v in profile.items() if k != "members"} for profile in document["profiles"]
    ]
    return view


def profile_members(document: dict[str, Any]) -> dict[str, list[int]]:
    return {p["ref"]: p["members"] for p in document.get("profiles", ())}


def assemble(rows: list[tuple], filt: dict[str, Any]) -> dict[str, Any]:
    """Profiles, detailed candidates and the omitted count for finding rows (tuples in
    FINDING_KEYS order plus `actionable`)."""
    # key -> [count, max_epss, max_risk, max_age_days, first_expiry_ns, members]
    groups: dict[tuple, list] = {}
    for row in rows:
        accepted = row[ACCEPTED]
        key = (
            row[KIND],
            row[SEVERITY],
            row[KEV],
            row[SSVC],
            row[ACTIONABLE],
            accepted is not None,
            row[PAST_SLA],
            row[IN_SCOPE],
        )  # PROFILE_KEYS order
        group = groups.get(key)
        if group is None:
            group = groups[key] = [0, None, None, 0, None, []]
        group[0] += 1
        group[5].append(row[ID])
        epss, risk, age = row[EPSS], row[RISK], row[AGE]
        if epss is not None and (group[1] is None or epss > group[1]):
            group[1] = epss
        if risk is not None and (group[2] is None or risk > group[2]):
            group[2] = risk
        group[3] = max(group[3], age)
        if accepted is not None and (group[4] is None or accepted["expires_ns"] < group[4]):
            group[4] = accepted["expires_ns"]
    profiles = []
    for number, key in enumerate(sorted(groups, key=lambda k: [str(v) for v in k]), 1):
        count, max_epss, max_risk, max_age, first_expiry, members = groups[key]
        profiles.append(
            {
                **dict(zip(PROFILE_KEYS, key, strict=True)),
                "count": count,
                "max_epss": max_epss,
                "max_risk": max_risk,
                "max_age_days": max_age,
                "first_expiry_ns": first_expiry,
                "members": sorted(members),
                "ref": f"p{number}",
            }
        )
    wanted = candidate_test(filt)
    candidates = [dict(zip(FINDING_KEYS, row, strict=False)) for row in rows if wanted(row)]
    return {
        "profiles": profiles,
        "findings": candidates,
        "omitted": {"count": len(rows) - len(candidates), "filter": filt},
    }
