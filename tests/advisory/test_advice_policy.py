"""Advice at the gate: `input.advice` holds only advice completed before the gate ran; the
default pack ignores it (the outcome is the same with advisory on and off); a policy written to
read it can raise to NEEDS_REVIEW; the advice a decision used is in its evidence."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator

from apps.advisory.advising import advice_request
from apps.evidence.services import bundle_store, evidence_envelope
from apps.evidence.statement import rfc3339
from apps.pipeline.gate import decision_make
from apps.pipeline.statement import DECISION_TYPE, decision_statement
from apps.policies.services import policy_assign, policy_create
from tests.advisory.advice_support import enable, run_workers
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db

READS_ADVICE = """package fixops.gate

import rego.v1

deny := set()

warn := set()

# The models agree the finding is likely exploitable: a person looks before it ships.
review contains {
	"rule": "FX-ADVICE-EXPLOITABLE",
	"message": "models agree a finding is likely exploitable",
	"finding_ids": [to_number(id)],
} if {
	some id, advice in input.advice
	advice.result == "consensus"
	advice.fields.exploitability == "likely"
}
"""


@pytest.fixture
def app(acme):
    return ApplicationFactory(tenant=acme, name="payments-api")


@pytest.fixture
def findings(acme, app):
    return [
        FindingFactory(tenant=acme, application=app, severity="low", status="open")
        for _ in range(3)
    ]


def _advise(tenant, finding, capture):
    with capture(execute=False):
        advice = advice_request(tenant=tenant, task="triage", finding=finding, actor="test")
    return run_workers(advice)


def _schema():
    from pathlib import Path

    return json.loads(Path("docs/policy-input.schema.json").read_text())


def test_only_advice_completed_before_the_gate_is_in_the_input(
    acme, alice, app, findings, three_fakes, make_provider, django_capture_on_commit_callbacks
):
    enable(acme, alice, three_fakes, make_provider)
    done = _advise(acme, findings[0], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        pending = advice_request(tenant=acme, task="triage", finding=findings[1], actor="t")

    before = decision_make(tenant=acme, application=app, now=done.completed_at)
    assert before.input["advice"] == {}  # completed at that very moment: not before it

    after = decision_make(tenant=acme, application=app, now=done.completed_at + timedelta(1))
    entry = after.input["advice"][str(findings[0].pk)]
    assert str(findings[1].pk) not in after.input["advice"]  # pending: the gate never waits
    assert pending.status == "pending"
    assert entry["id"] == done.pk
    assert entry["result"] == "consensus" and entry["agreement"] == 1.0
    assert entry["fields"]["suggested_severity"] == "high"
    assert entry["fields"]["fix.kind"] == "upgrade"
    assert "rationale" not in entry["fields"]  # no free text reaches policies
    errors = list(Draft202012Validator(_schema()).iter_errors(after.input))
    assert not errors, errors


def test_the_default_pack_ignores_advice_outcome_identical_on_and_off(
    acme, alice, app, findings, three_fakes, make_provider, django_capture_on_commit_callbacks
):
    off = decision_make(tenant=acme, application=app)
    assert "advice" in off.input and off.input["advice"] == {}

    enable(acme, alice, three_fakes, make_provider)
    for finding in findings:
        _advise(acme, finding, django_capture_on_commit_callbacks)
    on = decision_make(tenant=acme, application=app, now=off.created_at + timedelta(hours=1))
    assert len(on.input["advice"]) == 3
    assert (on.outcome, on.reasons) == (off.outcome, off.reasons)
    for finding in findings:
        before = finding.status
        finding.refresh_from_db()
        assert finding.status == before


def test_a_policy_written_to_read_advice_can_raise_to_needs_review(
    acme, alice, app, findings, three_fakes, make_provider, django_capture_on_commit_callbacks
):
    policy = policy_create(tenant=acme, name="reads-advice", source=READS_ADVICE)
    policy_assign(tenant=acme, policy=policy, application=app, mode="enforce")
    quiet = decision_make(tenant=acme, application=app)
    assert quiet.outcome == "ALLOW"

    enable(acme, alice, three_fakes, make_provider)
    advice = _advise(acme, findings[0], django_capture_on_commit_callbacks)
    decided = decision_make(
        tenant=acme, application=app, now=advice.completed_at + timedelta(seconds=1)
    )
    assert decided.outcome == "NEEDS_REVIEW"
    assert decided.reasons[0]["rule"] == "FX-ADVICE-EXPLOITABLE"
    assert decided.reasons[0]["finding_ids"] == [findings[0].pk]


def test_a_disagreement_does_not_trip_a_policy_that_asks_for_consensus(
    acme,
    alice,
    app,
    findings,
    three_fakes,
    fake_gemini,
    make_provider,
    django_capture_on_commit_callbacks,
):
    policy = policy_create(tenant=acme, name="reads-advice", source=READS_ADVICE)
    policy_assign(tenant=acme, policy=policy, application=app, mode="enforce")
    enable(acme, alice, three_fakes, make_provider)
    fake_gemini.mode = "disagree"
    advice = _advise(acme, findings[0], django_capture_on_commit_callbacks)
    assert advice.result == "disagreement"
    decided = decision_make(
        tenant=acme, application=app, now=advice.completed_at + timedelta(seconds=1)
    )
    assert decided.input["advice"][str(findings[0].pk)]["result"] == "disagreement"
    assert decided.outcome == "ALLOW"


def test_the_advice_a_decision_used_is_in_its_evidence(
    acme, alice, app, findings, three_fakes, make_provider, django_capture_on_commit_callbacks
):
    enable(acme, alice, three_fakes, make_provider)
    advice = _advise(acme, findings[0], django_capture_on_commit_callbacks)
    decision = decision_make(
        tenant=acme, application=app, now=advice.completed_at + timedelta(seconds=1)
    )
    # What was signed and stored (the bundle's DSSE envelope), not a statement rebuilt now.
    assert bundle_store(bundle_id=decision.evidence.pk)
    decision.evidence.refresh_from_db()
    envelope = json.loads(evidence_envelope(decision.evidence))
    predicate = json.loads(base64.b64decode(envelope["payload"]))["predicate"][DECISION_TYPE]
    [used] = predicate["advice"]
    assert used["id"] == advice.pk and used["findingId"] == findings[0].pk
    assert used["promptDigest"] == {"sha256": advice.prompt_digest}
    assert used["result"] == "consensus" and used["agreement"] == 1.0
    assert used["completedAt"] == rfc3339(advice.completed_at)
    assert {(a["provider"], a["model"], a["status"]) for a in used["answers"]} == {
        (f"fake-{f.name}", f.model, "ok") for f in three_fakes
    }
    assert all(a["data"]["suggested_severity"] == "high" for a in used["answers"])


def test_a_decision_without_advice_keeps_its_statement_shape(acme, app, findings):
    decision = decision_make(tenant=acme, application=app)
    assert "advice" not in decision_statement(decision)["predicate"][DECISION_TYPE]
