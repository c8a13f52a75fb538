"""The risk model and SSVC, as pure functions."""

from __future__ import annotations

import math

import pytest

from apps.intel import ssvc
from apps.intel.risk import Context, Intel, assess, best_cvss

CRITICAL_V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
LOW_V31 = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def test_cvss_scores_are_recomputed_and_v4_preferred():
    assert best_cvss((CRITICAL_V31,)) == (CRITICAL_V31, 9.8)
    assert best_cvss((CRITICAL_V31, V40)) == (V40, 9.3)
    assert best_cvss(("CVSS:3.1/AV:X/garbage",)) is None


def test_evidence_adds_log_likelihood_ratios_to_the_epss_prior():
    context = Context(kind="sca", severity="high", internet_exposed=True)
    base = assess(context, Intel(epss=0.01))
    kev = assess(context, Intel(epss=0.01, kev=True))
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert logit(kev.probability) - logit(base.probability) == pytest.approx(math.log(20))
    evidence = {e["name"] for e in kev.explanation["likelihood"]["evidence"]}
    assert evidence == {"kev", "internet_exposed"}
    assert kev.score > base.score
    assert base.explanation["likelihood"]["prior"] == {
        "source": "epss",
        "p": 0.01,
        "log_odds": round(logit(0.01), 4),
    }


def test_tenant_ratios_override_defaults():
    context = Context(kind="sca", severity="high")
    default = assess(context, Intel(epss=0.05, kev=True))
    tuned = assess(context, Intel(epss=0.05, kev=True), {"kev": 100.0})
    assert tuned.probability > default.probability
    kev = next(e for e in tuned.explanation["likelihood"]["evidence"] if e["name"] == "kev")
    assert kev["likelihood_ratio"] == 100.0


def test_vex_not_affected_drives_likelihood_down():
    context = Context(kind="sca", severity="critical", vex_state="not_affected")
    assert (
        assess(context, Intel(epss=0.5)).score
        < assess(Context(kind="sca", severity="critical"), Intel(epss=0.5)).score
    )


def test_impact_uses_cvss_and_application_context():
    intel = Intel(epss=0.2, cvss_vectors=(CRITICAL_V31,))
    crown = assess(
        Context(
            kind="sca",
            severity="critical",
            criticality="critical",
            data_classification="restricted",
        ),
        intel,
    )
    minor = assess(
        Context(kind="sca", severity="critical", criticality="low", data_classification="public"),
        intel,
    )
    assert crown.impact == 1.0  # capped
    assert minor.impact == pytest.approx(0.98 * 0.6 * 0.8)
    assert crown.score > minor.score
    assert crown.explanation["impact"]["base"] == {
        "source": "cvss",
        "vector": CRITICAL_V31,
        "base_score": 9.8,
        "value": 0.98,
    }


def test_findings_without_cve_use_documented_defaults():
    secret = assess(Context(kind="secret", severity="high"), Intel())
    sast = assess(Context(kind="sast", severity="high"), Intel())
    assert secret.explanation["likelihood"]["prior"]["source"] == "default for secret"
    assert sast.explanation["likelihood"]["prior"]["source"] == "default for severity high"
    assert secret.score > sast.score


def test_score_is_explained_by_its_components():
    result = assess(
        Context(kind="sca", severity="medium", internet_exposed=True),
        Intel(epss=0.03, cvss_vectors=(LOW_V31,)),
    )
    likelihood = result.explanation["likelihood"]["value"]
    impact = result.explanation["impact"]["value"]
    assert result.score == pytest.approx(100 * math.sqrt(likelihood * impact), abs=0.1)
    assert 0 <= result.score <= 100


@pytest.mark.parametrize(
    ("exploitation", "automatable", "technical", "mission", "outcome"),
    [
        ("none", "no", "partial", "high", "Track"),  # where the `ssvc` package says Track*
        ("none", "no", "total", "high", "Track*"),
        ("poc", "no", "total", "medium", "Track*"),
        ("active", "no", "total", "medium", "Attend"),
        ("active", "yes", "total", "medium", "Act"),
        ("active", "yes", "partial", "low", "Attend"),
        ("active", "no", "total", "high", "Act"),
    ],
)
def test_ssvc_table_rows(exploitation, automatable, technical, mission, outcome):
    assert ssvc.decide(ssvc.SsvcInputs(exploitation, automatable, technical, mission)) == outcome


def test_ssvc_inputs_from_intel():
    inputs = ssvc.inputs_for(
        kev=True, exploit_public=False, epss=None, vector=CRITICAL_V31, criticality="critical"
    )
    assert (inputs.exploitation, inputs.automatable, inputs.technical_impact, inputs.mission) == (
        "active",
        "yes",
        "total",
        "high",
    )
    inferred = ssvc.inputs_for(
        kev=False, exploit_public=False, epss=0.4, vector=LOW_V31, criticality="low"
    )
    assert inferred.exploitation == "poc" and inferred.exploitation_inferred
    assert (inferred.automatable, inferred.technical_impact) == ("no", "partial")
    assert ssvc.vector_points(V40) == ("yes", "total")


def test_worked_examples_of_the_docs():
    top = assess(
        Context(
            kind="sca",
            severity="critical",
            internet_exposed=True,
            criticality="critical",
            data_classification="restricted",
        ),
        Intel(epss=0.94, kev=True, cvss_vectors=(CRITICAL_V31,)),
    )
    assert top.score == 100.0
    low = assess(
        Context(kind="sca", severity="medium"), Intel(epss=0.0004, cvss_vectors=(LOW_V31,))
    )
    assert (low.score, round(low.likelihood, 3), round(low.impact, 3)) == (9.1, 0.057, 0.144)
