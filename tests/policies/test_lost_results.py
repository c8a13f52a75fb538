"""No silent loss, from upload to verdict: every result is a finding, lost or suppressed; a
scan that lost results is reviewed (FX-LOST-RESULTS) and never decided at full confidence."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.findings.models import Finding, Scan
from apps.policies import confidence, engine
from apps.policies.services import pack
from tests.findings.reports import upload
from tests.policies.documents import document, finding
from tests.tenants.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "fixtures" / "scans" / "sarif" / "real"
GITLEAKS_74 = REAL / "gitleaks-7.4.0.sarif"
GITLEAKS_76 = REAL / "gitleaks-7.6.1.sarif"
SCHEMA = json.loads((ROOT / "docs" / "policy-input.schema.json").read_text())


@pytest.fixture(scope="module")
def policy():
    source, parameters = pack()
    return engine.compile_policy(source, parameters)


def scan(scan_id: int, results: int, lost: int, suppressed: int = 0, tool: str = "gitleaks"):
    counts = {
        "results": results,
        "findings": results - lost - suppressed,
        "lost": lost,
        "suppressed": suppressed,
    }
    return {"id": scan_id, "format": "sarif", "tool": tool, "counts": counts}


def with_scans(doc: dict, *scans: dict) -> dict:
    doc["scans"] = list(scans)
    doc["scope"]["scans"] = [
        {"id": s["id"], "format": s["format"], "tool": s["tool"], "sha256": "0" * 64} for s in scans
    ]
    doc["context"].update(expected_kinds=["sast"], present_kinds=["sast"])
    return doc


# -- the pack and confidence on crafted inputs -------------------------------------------------


def test_lost_results_need_review_naming_scans_and_counts(policy):
    doc = with_scans(document(finding()), scan(12, 10, 8), scan(13, 5, 0, tool="trivy"))
    result = policy.evaluate(doc)
    assert result.outcome == "NEEDS_REVIEW"
    [reason] = result.reasons
    assert (reason.level, reason.rule) == ("review", "FX-LOST-RESULTS")
    assert reason.message == (
        "8 of 10 result(s) could not be read, so what they report is unknown: "
        "scan 12 (gitleaks) lost 8 of 10"
    )


def test_lost_results_do_not_soften_a_block(policy):
    secret = finding(kind="secret", tool="gitleaks")
    result = policy.evaluate(with_scans(document(secret), scan(12, 10, 2)))
    assert result.outcome == "BLOCK"
    assert {r.rule for r in result.reasons} == {"FX-SECRET", "FX-LOST-RESULTS"}


def test_no_loss_no_rule_and_no_factor(policy):
    doc = with_scans(document(finding()), scan(12, 10, 0, suppressed=3))
    assert policy.evaluate(doc).outcome == "ALLOW"
    assert confidence.assess(doc, {}) == (1.0, {"factors": []})


def test_confidence_factor_and_ceiling_are_listed_with_reasons():
    doc = with_scans(document(), scan(12, 100, 1), scan(13, 300, 0, tool="semgrep"))
    value, detail = confidence.assess(doc, {})
    lost, ceiling = detail["factors"]
    assert (lost["name"], lost["factor"]) == ("lost", round(1 - 0.5 * 1 / 400, 3))
    assert lost["reason"] == (
        "1 of 400 results in scope could not be read: scan 12 (gitleaks): 1 of 100"
    )
    assert ceiling["name"] == "lost:ceiling" and "at most 0.95" in ceiling["reason"]
    assert value == 0.95

    heavy = with_scans(document(), scan(12, 8, 8))
    value, detail = confidence.assess(heavy, {})
    assert value == 0.5 and [f["name"] for f in detail["factors"]] == ["lost"]


def test_documents_made_before_scans_existed_still_decide(policy):
    doc = with_scans(document(finding()), scan(12, 10, 0))
    del doc["scans"]
    assert policy.evaluate(doc).outcome == "ALLOW"
    assert confidence.assess(doc, {})[0] == 1.0


@settings(max_examples=150, deadline=None)
@given(
    scans=st.lists(
        st.integers(1, 10_000).flatmap(
            lambda results: st.tuples(st.just(results), st.integers(0, results))
        ),
        min_size=1,
        max_size=4,
    ).filter(lambda pairs: any(lost for _, lost in pairs)),
    clean=st.booleans(),
)
def test_never_allow_at_full_confidence_over_a_scan_that_lost_results(policy, scans, clean):
    """Whatever lost/results, and even with no finding at all: not ALLOW, and confidence at
    most 0.95 with the factor 1 - 0.5 * lost / results applied."""
    findings = [] if clean else [finding()]
    doc = with_scans(
        document(*findings),
        *(scan(i + 1, results, lost) for i, (results, lost) in enumerate(scans)),
    )
    outcome = policy.evaluate(doc).outcome
    value, detail = confidence.assess(doc, {})
    assert outcome != "ALLOW"
    assert not (outcome == "ALLOW" and value == 1.0)
    assert value <= 0.95
    lost = sum(lost for _, lost in scans)
    results = sum(results for results, _ in scans)
    assert value <= round(1 - 0.5 * lost / results, 3) + 0.001
    assert detail["factors"][0]["name"] == "lost"


# -- from upload to verdict ---------------------------------------------------------------------


def _upload(client, content: bytes, application: str = "shop", **fields):
    response = client.post(
        "/api/v1/scans/",
        {"file": upload(content, "report.sarif"), "application": application, **fields},
        format="multipart",
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


@pytest.mark.django_db
def test_gitleaks_74_sarif_blocks_eight_secrets_nothing_lost(acme_analyst):
    body = _upload(acme_analyst, GITLEAKS_74.read_bytes(), decide=True, branch="main")
    counts = body["counts"]
    assert (counts["results"], counts["findings"], counts["lost"], counts["suppressed"]) == (
        8,
        8,
        0,
        0,
    )
    assert counts["skipped"] == 0 and counts["findings_new"] == 8
    decision = body["decision"]
    assert decision["outcome"] == "BLOCK"
    [secret] = [r for r in decision["reasons"] if r["rule"] == "FX-SECRET"]
    assert len(secret["finding_ids"]) == 8
    assert "FX-LOST-RESULTS" not in {r["rule"] for r in decision["reasons"]}
    assert set(Finding.objects.values_list("kind", "rule_id")) == {("secret", "AWS Access Key")}


@pytest.mark.django_db
def test_reimport_gives_the_same_keys(acme_analyst):
    """7.4, then 7.6 (which added the ruleId), then 7.4 again with every line moved: one
    set of findings, nothing new and nothing closed."""
    _upload(acme_analyst, GITLEAKS_74.read_bytes(), branch="main")
    keys = set(Finding.objects.values_list("dedup_key", flat=True))
    upgraded = _upload(acme_analyst, GITLEAKS_76.read_bytes(), branch="main")["counts"]
    assert (upgraded["findings_new"], upgraded["findings_closed"]) == (0, 0)
    moved = json.loads(GITLEAKS_74.read_text())
    for result in moved["runs"][0]["results"]:
        result["locations"][0]["physicalLocation"]["region"]["startLine"] += 3
    again = _upload(acme_analyst, json.dumps(moved).encode(), branch="main")["counts"]
    assert (again["findings_new"], again["findings_existing"], again["findings_closed"]) == (
        0,
        8,
        0,
    )
    assert set(Finding.objects.values_list("dedup_key", flat=True)) == keys


@pytest.mark.django_db
def test_unreadable_results_are_lost_listed_and_reviewed(acme_analyst):
    """Two results of the gitleaks report lose their message: nothing names their rule, so
    they are lost, listed with their pointers; the rest still blocks, and a report with only
    those results is at most NEEDS_REVIEW, below full confidence."""
    document_ = json.loads(GITLEAKS_74.read_text())
    results = document_["runs"][0]["results"]
    for result in results[2:4]:
        result["message"] = {}
    body = _upload(acme_analyst, json.dumps(document_).encode(), decide=True, branch="main")
    counts = body["counts"]
    assert (counts["results"], counts["findings"], counts["lost"], counts["skipped"]) == (
        8,
        6,
        2,
        2,
    )
    assert body["decision"]["outcome"] == "BLOCK"
    assert body["decision"]["confidence"] <= 0.95
    detail = acme_analyst.get(f"/api/v1/scans/{body['id']}/").json()
    lost = [s for s in detail["skipped"] if s["lost"]]
    assert [(s["pointer"], s["reason"]) for s in lost] == [
        ("/runs/0/results/2", "no_rule"),
        ("/runs/0/results/3", "no_rule"),
    ]

    only_lost = {**document_, "runs": [{**document_["runs"][0], "results": results[2:4]}]}
    body = _upload(acme_analyst, json.dumps(only_lost).encode(), "other", decide=True)
    decision = body["decision"]
    assert body["counts"]["lost"] == 2 and body["counts"]["findings"] == 0
    assert decision["outcome"] == "NEEDS_REVIEW"
    assert [r["rule"] for r in decision["reasons"]] == ["FX-LOST-RESULTS"]
    assert f"scan {body['id']} (gitleaks) lost 2 of 2" in decision["reasons"][0]["message"]
    assert decision["confidence"] <= 0.95
    factors = {f["name"]: f for f in decision["confidence_detail"]["factors"]}
    assert factors["lost"]["factor"] == 0.5
    stored = acme_analyst.get(f"/api/v1/decisions/{decision['id']}/?input=1").json()["input"]
    assert stored["scans"] == [
        {
            "id": body["id"],
            "format": "sarif",
            "tool": "gitleaks",
            "counts": {"results": 2, "findings": 0, "lost": 2, "suppressed": 0},
        }
    ]
    jsonschema.validate(stored, SCHEMA)


@pytest.mark.django_db
def test_suppressed_results_are_counted_as_suppressed_not_lost(acme_analyst):
    located = [{"physicalLocation": {"artifactLocation": {"uri": "src/a.py"}}}]
    results = [
        {"ruleId": "R1", "message": {"text": "open problem"}, "locations": located},
        {
            "ruleId": "R2",
            "message": {"text": "nosec"},
            "locations": located,
            "suppressions": [{"kind": "inSource"}],
        },
        {
            "ruleId": "R3",
            "message": {"text": "legacy"},
            "suppressionStates": ["suppressedInSource"],
        },
        {"ruleId": "R4", "kind": "pass", "message": {"text": "rule passed"}},
        {"ruleId": "R5", "kind": "notApplicable", "message": {"text": "n/a"}},
        {
            "ruleId": "R6",
            "message": {"text": "rejected"},
            "locations": located,
            "suppressions": [{"kind": "external", "status": "rejected"}],
        },
    ]
    log = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "semgrep"}}, "results": results}],
    }
    body = _upload(acme_analyst, json.dumps(log).encode(), decide=True)
    counts = body["counts"]
    assert (counts["results"], counts["findings"], counts["lost"], counts["suppressed"]) == (
        6,
        2,
        0,
        4,
    )
    assert body["decision"]["outcome"] == "ALLOW" and body["decision"]["confidence"] == 1.0
    statuses = dict(Finding.objects.values_list("rule_id", "status"))
    assert statuses == {
        "R1": "open",
        "R2": "false_positive",
        "R3": "false_positive",
        "R6": "open",
    }
    detail = acme_analyst.get(f"/api/v1/scans/{body['id']}/").json()
    assert [(s["pointer"], s["suppressed"], s["lost"]) for s in detail["skipped"]] == [
        ("/runs/0/results/3", True, False),
        ("/runs/0/results/4", True, False),
    ]


@pytest.mark.django_db
def test_scans_imported_before_lost_existed_show_it(acme_analyst):
    body = _upload(acme_analyst, GITLEAKS_76.read_bytes())
    Scan.objects.filter(pk=body["id"]).update(
        counts={"results": 6, "skipped": 2, "warnings": 0, "findings_new": 6}
    )
    counts = acme_analyst.get(f"/api/v1/scans/{body['id']}/").json()["counts"]
    assert (counts["results"], counts["findings"], counts["lost"], counts["skipped"]) == (
        8,
        6,
        2,
        2,
    )


@pytest.mark.django_db
def test_admin_scan_page_shows_what_became_of_the_results(acme_analyst):
    document_ = json.loads(GITLEAKS_74.read_text())
    for result in document_["runs"][0]["results"][:2]:
        result["message"] = {}
    scan_id = _upload(acme_analyst, json.dumps(document_).encode())["id"]
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    listing = client.get("/admin/findings/scan/").content.decode()
    assert '<strong class="fixops-lost">2 lost</strong>' in listing and "8 → 6 findings" in listing
    page = client.get(f"/admin/findings/scan/{scan_id}/change/").content.decode()
    assert "8 results: 6 findings, 2 lost, 0 suppressed" in page and "/runs/0/results/1" in page


@pytest.mark.django_db
def test_skipped_entries_stored_before_lost_existed_read_in_the_new_shape(acme_analyst):
    body = _upload(acme_analyst, GITLEAKS_76.read_bytes())
    Scan.objects.filter(pk=body["id"]).update(
        skipped=[
            {"pointer": "/runs/0/results/3", "message": "no rule", "lost_finding": True},
            {"pointer": "/runs/0/results/4", "message": "bad purl", "lost_finding": False},
        ]
    )
    skipped = acme_analyst.get(f"/api/v1/scans/{body['id']}/").json()["skipped"]
    assert [(s["pointer"], s["reason"], s["lost"], s["suppressed"]) for s in skipped] == [
        ("/runs/0/results/3", "lost", True, False),
        ("/runs/0/results/4", "warning", False, False),
    ]
