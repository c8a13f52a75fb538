"""The gate end to end: upload reports, decide in the same call or afterwards, read back an
immutable decision with its reasons, policy version, confidence and counts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from django.utils import timezone

from apps.connectors.models import Integration, NotificationRule, OutboxMessage
from apps.evidence.services import bundle_store
from apps.intel.models import FeedStatus
from apps.pipeline.gate import decision_make
from apps.policies import services
from apps.policies.models import Decision, PolicySettings
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.findings.reports import Result, sarif, upload

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scans"
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "policy-input.schema.json").read_text()
)
HEADER = "package fixops.gate\n\nimport rego.v1\n\n"


def _upload(client, content, *, decide=True, application="shop", **fields):
    return client.post(
        "/api/v1/scans/",
        {"file": upload(content), "application": application, "decide": decide, **fields},
        format="multipart",
    )


def test_one_call_gate_blocks_a_leaked_secret(acme_analyst):
    report = (FIXTURES / "gitleaks" / "report.json").read_bytes()
    response = _upload(acme_analyst, report, commit="abc123", branch="main", pipeline_run="42")
    assert response.status_code == 201, response.content
    decision = response.json()["decision"]
    assert decision["outcome"] == "BLOCK"
    [rule] = {r["rule"] for r in decision["reasons"] if r["level"] == "deny"}
    assert rule == "FX-SECRET"
    assert decision["policy"]["name"] == services.DEFAULT_POLICY_NAME
    assert decision["policy"]["version"] == 1
    assert len(decision["policy"]["digest"]) == 64
    assert decision["scans"] == [response.json()["id"]]
    assert (decision["commit"], decision["branch"], decision["pipeline_run"]) == (
        "abc123",
        "main",
        "42",
    )
    # The bundle is signed and recorded with the decision; its object is stored after commit.
    pending = acme_analyst.get(decision["evidence_url"])
    assert (pending.status_code, pending.json()["error"]["code"]) == (409, "evidence_pending")
    stored = Decision.objects.get(pk=decision["id"])
    assert bundle_store(bundle_id=stored.evidence.pk)  # what the after-commit task runs
    envelope = acme_analyst.get(decision["evidence_url"])
    assert envelope.status_code == 200
    assert envelope.json()["payloadType"] == "application/vnd.in-toto+json"
    secret_ids = set(stored.reasons[0]["finding_ids"])
    assert secret_ids and all(
        f["kind"] == "secret" for f in stored.input["findings"] if f["id"] in secret_ids
    )


def test_clean_sast_report_is_allowed_and_listed_by_scan(acme_analyst):
    response = _upload(acme_analyst, sarif([Result(rule="r1")]), decide=True)
    body = response.json()
    assert body["decision"]["outcome"] == "ALLOW"
    listed = acme_analyst.get(body["decision_url"]).json()["results"]
    assert [d["id"] for d in listed] == [body["decision"]["id"]]


def test_post_decision_then_read_it_back(acme_analyst, acme):
    _upload(acme_analyst, sarif([Result(rule="r1")]), decide=False)
    response = acme_analyst.post(
        "/api/v1/decisions/",
        {"application": "shop", "commit": "c1", "branch": "main", "pipeline_run": "7"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) >= {
        "id",
        "outcome",
        "confidence",
        "reasons",
        "policy",
        "counts",
        "evidence_url",
    }
    detail = acme_analyst.get(f"/api/v1/decisions/{created['id']}/?input=1").json()
    assert detail["outcome"] == created["outcome"]
    assert detail["input"]["scope"]["commit"] == "c1"
    jsonschema.validate(detail["input"], SCHEMA)


def test_decision_scan_ids_must_belong_to_the_application(acme_analyst, acme):
    other = ApplicationFactory(tenant=acme, name="other")
    scan_id = _upload(acme_analyst, sarif([Result()]), decide=False, application="other").json()[
        "id"
    ]
    assert other.pk
    response = acme_analyst.post(
        "/api/v1/decisions/", {"application": "shop-x", "scans": [scan_id]}, format="json"
    )
    assert response.status_code == 404  # unknown application
    ApplicationFactory(tenant=acme, name="shop")
    response = acme_analyst.post(
        "/api/v1/decisions/", {"application": "shop", "scans": [scan_id]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_scans"


def test_viewer_cannot_decide_and_scoped_token_needs_decisions_write(
    acme, acme_viewer, issue_token, api_client
):
    ApplicationFactory(tenant=acme, name="shop")
    assert (
        acme_viewer.post("/api/v1/decisions/", {"application": "shop"}, format="json").status_code
        == 403
    )
    ci = api_client(issue_token(acme, role="analyst", scopes=["scans:write"]))
    response = _upload(ci, sarif([Result()]))
    assert response.status_code == 403
    assert "decisions:write" in response.json()["error"]["message"]


def test_input_document_matches_the_published_schema(acme):
    app = ApplicationFactory(tenant=acme, name="shop", internet_exposed=True)
    FindingFactory(
        tenant=acme,
        application=app,
        kind="sca",
        vuln_id="CVE-2021-44228",
        kev=True,
        epss=0.97,
        severity="critical",
        ssvc="Act",
    )
    FindingFactory(tenant=acme, application=app, severity="low")
    decision = decision_make(tenant=acme, application=app, commit="c")
    jsonschema.validate(decision.input, SCHEMA)
    assert decision.outcome == "BLOCK"
    assert decision.counts["open"] == 2
    assert decision.counts["in_input"] == 1 and decision.counts["omitted"] == 1
    assert decision.input["summary"]["by_severity"] == {"critical": 1, "low": 1}


def test_decisions_are_immutable(acme):
    app = ApplicationFactory(tenant=acme)
    decision = decision_make(tenant=acme, application=app)
    decision.outcome = "ALLOW"
    with pytest.raises(ValueError, match="immutable"):
        decision.save()


def test_broken_policy_closes_the_gate(acme):
    """A run-time failure is a BLOCK with the engine's message, never an ALLOW."""
    app = ApplicationFactory(tenant=acme)
    FindingFactory(tenant=acme, application=app, path="src/x.py", kind="secret")
    source = HEADER + (
        'deny contains {"rule": "t", "message": "m", "finding_ids": [f.id]} if {\n'
        "  some f in input.findings\n  time.parse_rfc3339_ns(f.path) > 0\n}\n"
        "review := set()\nwarn := set()\n"
    )
    policy = services.policy_create(tenant=acme, name="fragile", source=source)
    services.policy_assign(tenant=acme, policy=policy, application=None, mode="enforce")
    decision = decision_make(tenant=acme, application=app)
    assert decision.outcome == "BLOCK"
    assert decision.reasons[0]["rule"] == "FX-ENGINE-ERROR"
    assert "Unable to parse time" in decision.error


def test_application_assignment_beats_tenant_assignment_and_log_only_is_recorded(acme):
    app = ApplicationFactory(tenant=acme)
    other = ApplicationFactory(tenant=acme)
    FindingFactory(tenant=acme, application=app, severity="critical")
    strict = services.policy_create(
        tenant=acme,
        name="strict",
        source=HEADER
        + 'deny contains {"rule": "S", "message": "any open finding", '
        + '"profiles": [p.ref | some p in input.profiles]} if { count(input.profiles) > 0 }\n'
        + "review := set()\nwarn := set()\n",
    )
    lenient = services.policy_create(
        tenant=acme,
        name="lenient",
        source=HEADER + "deny := set()\nreview := set()\nwarn := set()\n",
    )
    services.policy_assign(tenant=acme, policy=strict, application=None, mode="enforce")
    services.policy_assign(tenant=acme, policy=lenient, application=app, mode="enforce")
    services.policy_assign(tenant=acme, policy=strict, application=app, mode="log_only")
    decision = decision_make(tenant=acme, application=app)
    assert decision.outcome == "ALLOW"
    assert decision.policy_version.policy == lenient
    [shadow] = decision.shadow
    assert (shadow["policy"], shadow["outcome"]) == ("strict", "BLOCK")
    assert decision_make(tenant=acme, application=other).policy_version.policy == strict


def test_confidence_reflects_missing_feeds_coverage_and_enrichment(acme, acme_analyst):
    PolicySettings.objects.create(tenant=acme, expected_kinds=["sast", "sca", "secret"])
    response = _upload(acme_analyst, sarif([Result()]), decide=True)
    decision = response.json()["decision"]
    names = {f["name"]: f["factor"] for f in decision["confidence_detail"]["factors"]}
    # SARIF from semgrep covers sast only: 1 of 3 expected kinds.
    assert names == {"coverage": pytest.approx(0.6 + 0.4 / 3, abs=0.001)}
    assert decision["confidence"] == pytest.approx(0.733, abs=0.001)

    app = ApplicationFactory(tenant=acme, name="deps")
    FindingFactory(tenant=acme, application=app, kind="sca", vuln_id="CVE-2024-1", epss=None)
    FindingFactory(tenant=acme, application=app, kind="sca", vuln_id="CVE-2024-2", epss=0.1)
    FeedStatus.objects.update_or_create(
        name="epss", defaults={"last_success": timezone.now() - timedelta(hours=100)}
    )
    decision = decision_make(tenant=acme, application=app)
    factors = {f["name"]: f["factor"] for f in decision.confidence_detail["factors"]}
    assert factors == {
        "feed:epss": 0.9,
        "feed:kev": 0.75,
        "coverage": 0.8,
        "enrichment": pytest.approx(0.85),
    }
    assert decision.confidence == pytest.approx(round(0.9 * 0.75 * 0.8 * 0.85, 3))


def test_decide_on_a_queued_upload_answers_without_a_decision(acme_analyst, settings):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = _upload(acme_analyst, sarif([Result()]), decide=True)
    assert response.status_code == 202
    assert response.json()["decision"] is None


def test_block_is_announced_through_the_outbox_in_the_same_transaction(acme):
    """BLOCK reaches the channel of the notification rule that asks for it."""
    slack = Integration(tenant=acme, kind="slack", name="alerts", base_url="https://slack.com")
    slack.credentials = {"bot_token": "xoxb-test"}
    slack.settings = {"channel": "C0123"}
    slack.save()
    NotificationRule.objects.create(
        tenant=acme, name="alerts", integration=slack, events=["decision_block"]
    )
    app = ApplicationFactory(tenant=acme)
    FindingFactory(tenant=acme, application=app, kind="secret")
    decision = decision_make(tenant=acme, application=app)
    [message] = OutboxMessage.objects.filter(integration=slack)
    assert message.payload["ticket"]["extra"]["data"]["decision_id"] == decision.pk
    assert decision.evidence.decision_id == decision.pk
