"""Advice end to end against the three fake providers (tests/fakes/llm.py): the endpoints,
the fan-out (each provider's task, the deadline), consensus, feedback, and that advice never
changes a finding or a decision."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from apps.advisory.advising import advice_answer, advice_finish, advice_request
from apps.advisory.models import Advice, AdviceFeedback, AdviceStatus
from apps.advisory.services import provider_update
from fixops.platform.models import AuditEvent
from tests.advisory.advice_support import enable, run_workers
from tests.findings.factories import FindingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def finding(acme):
    return FindingFactory(tenant=acme, title="SQL injection in /login", status="open")


@pytest.fixture
def on(acme, alice, three_fakes, make_provider):
    """acme with advisory on and one provider at each of the three fakes."""
    return enable(acme, alice, three_fakes, make_provider)


def _ask(client, finding, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/api/v1/findings/{finding.pk}/advice/", format="json")
    assert response.status_code == 202, response.content
    assert callbacks, "the fan-out is enqueued after commit"
    return Advice.objects.get(pk=response.json()["id"]), response


def test_feature_absent_every_advice_route_is_404(acme, alice, finding, acme_analyst):
    for method, path in (
        ("post", f"/api/v1/findings/{finding.pk}/advice/"),
        ("get", f"/api/v1/findings/{finding.pk}/advice/"),
        ("get", "/api/v1/advice/1/"),
    ):
        assert getattr(acme_analyst, method)(path, format="json").status_code == 404


def test_enabled_without_a_provider_is_still_absent(acme, alice, finding, acme_analyst):
    enable(acme, alice, [], None)
    response = acme_analyst.post(f"/api/v1/findings/{finding.pk}/advice/", format="json")
    assert response.status_code == 404


def test_three_agreeing_providers_reach_consensus(
    on, finding, three_fakes, acme_analyst, django_capture_on_commit_callbacks
):
    advice, response = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    body = response.json()
    assert body["status"] == "pending"
    assert response["Location"] == body["url"] == f"/api/v1/advice/{advice.pk}/"
    assert [a["status"] for a in body["answers"]] == ["pending"] * 3
    assert len(advice.prompt_digest) == 64 and "<data>" in advice.redacted_text

    run_workers(advice)

    body = acme_analyst.get(body["url"]).json()
    assert body["status"] == "done"
    assert body["result"] == "consensus"
    assert body["agreement"] == 1.0
    assert {a["status"] for a in body["answers"]} == {"ok"}
    assert all(a["tokens_in"] > 0 for a in body["answers"])
    votes = {f["field"]: f for f in body["outcome"]["fields"]}
    assert votes["suggested_severity"]["winner"] == "high"
    assert "rationale" not in votes  # free text is shown, not voted
    # Every provider was asked the same thing: exactly the stored redacted text.
    for fake in three_fakes:
        assert len(fake.requests) == 1 and not fake.rejections
    latest = acme_analyst.get(f"/api/v1/findings/{finding.pk}/advice/").json()
    assert latest["id"] == advice.pk


def test_one_dissenting_provider_is_shown_as_disagreement(
    on, finding, fake_gemini, acme_analyst, django_capture_on_commit_callbacks
):
    fake_gemini.mode = "disagree"
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    advice = run_workers(advice)
    assert advice.result == "disagreement"
    assert advice.agreement == pytest.approx(2 / 3, abs=1e-3)
    severity = next(f for f in advice.outcome["fields"] if f["field"] == "suggested_severity")
    assert severity["winner"] == "high"
    assert [(v["value"], sorted(v["providers"])) for v in severity["votes"]] == [
        ("high", ["fake-anthropic", "fake-openai"]),
        ("low", ["fake-gemini"]),
    ]


def test_a_lower_threshold_accepts_two_of_three(
    acme,
    alice,
    finding,
    three_fakes,
    make_provider,
    fake_gemini,
    acme_analyst,
    django_capture_on_commit_callbacks,
):
    enable(acme, alice, three_fakes, make_provider, threshold=0.6)
    fake_gemini.mode = "disagree"
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    assert run_workers(advice).result == "consensus"


@pytest.mark.parametrize("mode", ["malformed", "off_schema", "refuse"])
def test_a_broken_answer_is_dissent(
    mode, on, finding, fake_openai, acme_analyst, django_capture_on_commit_callbacks
):
    fake_openai.mode = mode
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    advice = run_workers(advice)
    broken = advice.answers.get(provider_name="fake-openai")
    assert broken.status in ("off_schema", "failed") and broken.data is None
    assert advice.result == "disagreement"
    assert advice.agreement == pytest.approx(2 / 3, abs=1e-3)


def test_a_single_provider_is_single_model_never_consensus(
    acme,
    alice,
    finding,
    fake_openai,
    make_provider,
    acme_analyst,
    django_capture_on_commit_callbacks,
):
    enable(acme, alice, [fake_openai], make_provider)
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    advice = run_workers(advice)
    assert advice.status == "done"
    assert advice.result == "single_model"


def test_silent_providers_time_out_at_the_deadline_as_dissent(
    on, finding, acme_analyst, django_capture_on_commit_callbacks
):
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    first, *rest = advice.answers.order_by("id")
    advice_answer(answer_id=first.pk)
    advice_answer(answer_id=rest[0].pk)
    # Before the deadline nothing closes it.
    assert advice_finish(advice_id=advice.pk).status == AdviceStatus.RUNNING
    advice_finish(advice_id=advice.pk, now=advice.deadline_at + timedelta(seconds=1))
    advice.refresh_from_db()
    assert advice.status == "done"
    assert advice.answers.get(pk=rest[1].pk).status == "timeout"
    assert advice.result == "disagreement"
    # A late answer changes nothing: the result stands.
    advice_answer(answer_id=rest[1].pk)
    advice.refresh_from_db()
    assert advice.answers.get(pk=rest[1].pk).status == "timeout"


def test_reading_after_the_deadline_closes_advice_a_lost_task_left_open(
    on, finding, acme_analyst, django_capture_on_commit_callbacks
):
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    Advice.objects.filter(pk=advice.pk).update(deadline_at=advice.created_at)
    body = acme_analyst.get(f"/api/v1/advice/{advice.pk}/").json()
    assert body["status"] == "failed"
    assert body["result"] == "no_answer"
    assert {a["status"] for a in body["answers"]} == {"timeout"}


def test_a_provider_over_budget_is_skipped_and_shown_not_counted(
    on, finding, acme_analyst, django_capture_on_commit_callbacks, fake_gemini
):
    over = next(p for p in on if p.name == "fake-gemini")
    provider_update(provider=over, daily_token_budget=1)
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    advice = run_workers(advice)
    skipped = advice.answers.get(provider_name="fake-gemini")
    assert skipped.status == "over_budget"
    assert not fake_gemini.requests
    assert advice.result == "consensus"  # two asked, both agree
    assert advice.outcome["asked"] == 2


def test_each_answer_is_asked_once_even_when_its_task_runs_twice(
    on, finding, three_fakes, acme_analyst, django_capture_on_commit_callbacks
):
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    run_workers(advice)
    run_workers(advice)
    assert [len(f.requests) for f in three_fakes] == [1, 1, 1]


def test_advice_never_changes_the_finding(
    on, finding, fake_openai, acme_analyst, django_capture_on_commit_callbacks
):
    fake_openai.answer = {
        "likely_false_positive": True,
        "exploitability": "not_exploitable",
        "suggested_severity": "info",
        "fix": {"kind": "none", "detail": "nothing to do"},
        "rationale": "test code",
        "confidence": 0.9,
    }
    before = (finding.status, finding.severity, finding.risk_score)
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    run_workers(advice)
    finding.refresh_from_db()
    assert (finding.status, finding.severity, finding.risk_score) == before


def test_brief_is_for_a_reviewable_decision(
    on, acme, acme_analyst, django_capture_on_commit_callbacks
):
    from tests.evidence.factories import make_decision

    blocked = make_decision(acme, outcome="BLOCK")
    allowed = make_decision(acme, outcome="ALLOW")
    response = acme_analyst.post(f"/api/v1/decisions/{allowed.pk}/brief/", format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "decision_not_reviewable"
    with django_capture_on_commit_callbacks(execute=False):
        response = acme_analyst.post(f"/api/v1/decisions/{blocked.pk}/brief/", format="json")
    assert response.status_code == 202
    advice = run_workers(Advice.objects.get(pk=response.json()["id"]))
    assert advice.task == "brief" and advice.result == "consensus"
    latest = acme_analyst.get(f"/api/v1/decisions/{blocked.pk}/brief/").json()
    assert latest["id"] == advice.pk
    blocked.refresh_from_db()
    assert blocked.outcome == "BLOCK"


def test_roles_and_tenants(
    on, acme, finding, acme_viewer, globex_admin, acme_analyst, django_capture_on_commit_callbacks
):
    assert (
        acme_viewer.post(f"/api/v1/findings/{finding.pk}/advice/", format="json").status_code == 403
    )
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    assert acme_viewer.get(f"/api/v1/advice/{advice.pk}/").status_code == 200
    assert globex_admin.get(f"/api/v1/advice/{advice.pk}/").status_code == 404
    assert globex_admin.get(f"/api/v1/findings/{finding.pk}/advice/").status_code == 404


def test_a_token_scope_governs_advice(on, acme, finding, issue_token, api_client):
    findings_only = api_client(issue_token(acme, role="analyst", scopes=["findings:write"]))
    response = findings_only.post(f"/api/v1/findings/{finding.pk}/advice/", format="json")
    assert response.status_code == 403


def test_feedback_from_a_person_is_recorded_and_audited(
    on, acme, alice, finding, acme_analyst, django_capture_on_commit_callbacks
):
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    person = APIClient()
    person.force_login(alice)
    path = f"/api/v1/advice/{advice.pk}/feedback/"
    early = person.post(path, {"verdict": "agree"}, format="json")
    assert early.status_code == 400  # not done yet
    run_workers(advice)
    assert person.post(path, {"verdict": "agree"}, format="json").status_code == 200
    assert person.post(path, {"verdict": "disagree"}, format="json").status_code == 200
    row = AdviceFeedback.objects.get(advice=advice)
    assert (row.user, row.verdict) == (alice, "disagree")
    events = AuditEvent.objects.filter(action="advice.feedback", target_id=str(advice.pk))
    assert events.count() == 2
    token = acme_analyst.post(path, {"verdict": "agree"}, format="json")
    assert token.status_code == 400
    assert token.json()["error"]["code"] == "feedback_needs_person"


def test_request_and_completion_are_audited(
    on, finding, acme_analyst, django_capture_on_commit_callbacks
):
    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    run_workers(advice)
    actions = set(
        AuditEvent.objects.filter(target_type="advice", target_id=str(advice.pk)).values_list(
            "action", flat=True
        )
    )
    assert actions == {"advice.request", "advice.complete"}


def test_the_service_refuses_when_absent(acme, finding):
    from fixops.platform.errors import NotFound

    with pytest.raises(NotFound):
        advice_request(tenant=acme, task="triage", finding=finding, actor="test")


def test_a_provider_deleted_after_the_question_is_a_failed_answer(
    on, finding, acme_analyst, django_capture_on_commit_callbacks
):
    from apps.advisory.services import provider_delete

    advice, _ = _ask(acme_analyst, finding, django_capture_on_commit_callbacks)
    provider_delete(provider=next(p for p in on if p.name == "fake-gemini"))
    advice = run_workers(advice)
    gone = advice.answers.get(provider_name="fake-gemini")
    assert gone.status == "failed" and "deleted" in gone.error
    assert advice.status == "done" and advice.result == "disagreement"
