"""Each rule of the shipped default pack against crafted inputs, and the promise that its
candidate filter never hides a finding one of its rules would have named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.policies import engine
from apps.policies.services import pack
from tests.policies.documents import accepted_for, document, finding


@pytest.fixture(scope="module")
def policy():
    source, parameters = pack()
    return engine.compile_policy(source, parameters)


def decide(policy, *findings, exposed=False):
    result = policy.evaluate(document(*findings, exposed=exposed))
    return result.outcome, {(r.level, r.rule): list(r.finding_ids) for r in result.reasons}


def test_nothing_notable_is_allowed(policy):
    assert decide(policy, finding(), finding(severity="low")) == ("ALLOW", {})


def test_leaked_secret_blocks(policy):
    secret = finding(kind="secret", tool="gitleaks", rule="aws-access-key")
    outcome, reasons = decide(policy, secret, finding())
    assert outcome == "BLOCK"
    assert reasons == {("deny", "FX-SECRET"): [secret["id"]]}


def test_kev_blocks_only_when_internet_exposed(policy):
    kev = finding(kind="sca", vuln="CVE-2021-44228", kev=True, severity="critical")
    assert decide(policy, kev, exposed=True) == ("BLOCK", {("deny", "FX-KEV-EXPOSED"): [kev["id"]]})
    assert decide(policy, kev, exposed=False) == (
        "NEEDS_REVIEW",
        {("review", "FX-KEV-INTERNAL"): [kev["id"]]},
    )


def test_ssvc_act_blocks_and_attend_or_track_star_need_review(policy):
    act = finding(ssvc="Act")
    attend = finding(ssvc="Attend")
    track_star = finding(ssvc="Track*")
    track = finding(ssvc="Track")
    outcome, reasons = decide(policy, act, attend, track_star, track)
    assert outcome == "BLOCK"
    assert reasons == {
        ("deny", "FX-SSVC-ACT"): [act["id"]],
        ("review", "FX-SSVC-ATTEND"): sorted([attend["id"], track_star["id"]]),
    }


def test_critical_past_sla_needs_review_but_a_medium_does_not(policy):
    late = finding(severity="critical", past_sla=True, age_days=30, sla_days=7)
    late_medium = finding(severity="medium", past_sla=True)
    on_time = finding(severity="critical", past_sla=False)
    assert decide(policy, late, late_medium, on_time) == (
        "NEEDS_REVIEW",
        {("review", "FX-SLA"): [late["id"]]},
    )


def test_high_epss_warns_and_still_allows(policy):
    likely = finding(kind="sca", epss=0.93)
    unlikely = finding(kind="sca", epss=0.2)
    assert decide(policy, likely, unlikely) == ("ALLOW", {("warn", "FX-EPSS"): [likely["id"]]})


def test_accepted_finding_passes_and_stays_visible_with_its_expiry(policy):
    now = document()["now_ns"]
    secret = finding(kind="secret", accepted=accepted_for(now, days=12), status="risk_accepted")
    result = policy.evaluate(document(secret, exposed=True, now_ns=now))
    assert result.outcome == "ALLOW"
    [reason] = result.reasons
    assert (reason.level, reason.rule, reason.finding_ids) == (
        "warn",
        "FX-ACCEPTED",
        (secret["id"],),
    )
    assert "first expires in 12 day(s)" in reason.message


@pytest.mark.parametrize("vex", ["not_affected", "false_positive", "resolved"])
def test_vex_not_affected_does_not_block(policy, vex):
    kev = finding(kind="sca", kev=True, vex=vex)
    assert decide(policy, kev, exposed=True) == ("ALLOW", {})


def test_vex_exploitable_still_blocks(policy):
    kev = finding(kind="sca", kev=True, vex="exploitable")
    assert decide(policy, kev, exposed=True)[0] == "BLOCK"


facts = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["sast", "sca", "iac", "secret", "container"]),
        "severity": st.sampled_from(["critical", "high", "medium", "low", "info"]),
        "epss": st.one_of(st.none(), st.floats(0, 1)),
        "kev": st.booleans(),
        "ssvc": st.sampled_from(["", "Track", "Track*", "Attend", "Act"]),
        "past_sla": st.booleans(),
        "in_scope": st.booleans(),
        "vex": st.sampled_from(["", "not_affected", "exploitable"]),
        "accepted": st.sampled_from([None, {"id": 1, "scope": "finding", "expires_ns": 2**62}]),
    }
)


def oracle(findings, exposed):
    """The default pack's rules written in plain Python over every finding."""
    live = [f for f in findings if f["actionable"]]
    ids = lambda pred: sorted(f["id"] for f in live if pred(f))  # noqa: E731
    reasons = {
        ("deny", "FX-SECRET"): ids(lambda f: f["kind"] == "secret"),
        ("deny" if exposed else "review", "FX-KEV-EXPOSED" if exposed else "FX-KEV-INTERNAL"): ids(
            lambda f: f["kev"]
        ),
        ("deny", "FX-SSVC-ACT"): ids(lambda f: f["ssvc"] == "Act"),
        ("review", "FX-SSVC-ATTEND"): ids(lambda f: f["ssvc"] in ("Attend", "Track*")),
        ("review", "FX-SLA"): ids(lambda f: f["past_sla"] and f["severity"] == "critical"),
        ("warn", "FX-EPSS"): ids(lambda f: f["epss"] is not None and f["epss"] >= 0.5),
        ("warn", "FX-ACCEPTED"): sorted(f["id"] for f in findings if f["accepted"]),
    }
    reasons = {key: value for key, value in reasons.items() if value}
    levels = {level for level, _ in reasons}
    outcome = "BLOCK" if "deny" in levels else "NEEDS_REVIEW" if "review" in levels else "ALLOW"
    return outcome, reasons


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(facts, max_size=15), exposed=st.booleans())
def test_profiles_and_candidates_never_hide_a_finding_from_the_default_pack(policy, rows, exposed):
    """Through profiles and the candidate filter, the pack names exactly the findings its
    rules name when written in Python over every finding."""
    findings = [finding(**row) for row in rows]
    assert decide(policy, *findings, exposed=exposed) == oracle(findings, exposed)
