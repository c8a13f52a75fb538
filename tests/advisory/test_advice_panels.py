"""The AI advice panels on the finding and decision pages: hidden when advisory is absent;
"ask" (analyst) goes through the service; the result is shown as what it is (consensus,
single model, disagreement with its votes) with each provider's answer; agree / disagree by
analysts is recorded and audited; viewers see but cannot act."""

from __future__ import annotations

import pytest

from apps.advisory.models import Advice, AdviceFeedback
from fixops.platform.models import AuditEvent
from tests.advisory.advice_support import enable, run_workers
from tests.evidence.factories import make_decision
from tests.findings.factories import FindingFactory
from tests.workspace.test_triage_list import staff

pytestmark = pytest.mark.django_db


def _page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _finding_url(finding) -> str:
    return f"/admin/findings/finding/{finding.pk}/change/"


@pytest.fixture
def finding(acme):
    return FindingFactory(tenant=acme, title="Reflected XSS", status="open")


@pytest.fixture
def analyst(acme):
    return staff("ana", acme, "analyst")


def test_hidden_when_advisory_is_absent(acme, finding, analyst):
    client, _ = analyst
    assert 'id="advice"' not in _page(client, _finding_url(finding))
    decision = make_decision(acme)
    assert 'id="advice"' not in _page(client, f"/admin/policies/decision/{decision.pk}/change/")


def test_an_analyst_asks_sees_the_consensus_and_agrees(
    acme, alice, finding, analyst, three_fakes, make_provider, django_capture_on_commit_callbacks
):
    enable(acme, alice, three_fakes, make_provider)
    client, user = analyst
    page = _page(client, _finding_url(finding))
    assert 'id="advice-none"' in page and 'id="advice-request-form"' in page

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/admin/findings/finding/{finding.pk}/advice/")
    assert response.status_code == 302
    advice = Advice.objects.get(finding=finding)
    assert 'id="advice-pending"' in _page(client, _finding_url(finding))

    run_workers(advice)
    page = _page(client, _finding_url(finding))
    assert "<strong>Consensus</strong>: agreement 100% (threshold 85%)" in page
    assert "fake-openai" in page and "fake-anthropic" in page and "fake-gemini" in page
    votes = page.split('id="advice-fields"')[1].split("</table>")[0]
    assert "suggested_severity" in votes and "rationale" not in votes  # free text: not voted
    assert "Rationale</strong> (fake-" in page  # shown from the representative answer

    response = client.post(
        f"/admin/findings/finding/{finding.pk}/advice/feedback/",
        {"advice": advice.pk, "verdict": "agree"},
    )
    assert response.status_code == 302
    assert AdviceFeedback.objects.get(advice=advice, user=user).verdict == "agree"
    assert AuditEvent.objects.filter(action="advice.feedback", target_id=str(advice.pk)).exists()
    assert "1 agree, 0 disagree; you said <strong>agree</strong>" in _page(
        client, _finding_url(finding)
    )


def test_a_disagreement_is_shown_as_one_with_its_votes(
    acme,
    alice,
    finding,
    analyst,
    three_fakes,
    fake_gemini,
    make_provider,
    django_capture_on_commit_callbacks,
):
    enable(acme, alice, three_fakes, make_provider)
    fake_gemini.mode = "disagree"
    client, _ = analyst
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/admin/findings/finding/{finding.pk}/advice/")
    run_workers(Advice.objects.get(finding=finding))
    page = _page(client, _finding_url(finding))
    assert "The models disagree" in page and "Consensus</strong>" not in page
    assert "low (fake-gemini)" in page  # the dissenting vote, by provider


def test_a_single_provider_is_labelled_single_model(
    acme, alice, finding, analyst, fake_openai, make_provider, django_capture_on_commit_callbacks
):
    enable(acme, alice, [fake_openai], make_provider)
    client, _ = analyst
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/admin/findings/finding/{finding.pk}/advice/")
    run_workers(Advice.objects.get(finding=finding))
    page = _page(client, _finding_url(finding))
    assert "Single model: one provider answered, this is not a consensus" in page


def test_a_viewer_sees_the_panel_but_cannot_ask_or_rate(
    acme, alice, finding, three_fakes, make_provider, django_capture_on_commit_callbacks
):
    enable(acme, alice, three_fakes, make_provider)
    client, _ = staff("vic", acme, "viewer")
    page = _page(client, _finding_url(finding))
    assert 'id="advice"' in page and 'id="advice-request-form"' not in page
    client.post(f"/admin/findings/finding/{finding.pk}/advice/")
    assert not Advice.objects.filter(finding=finding).exists()


def test_the_decision_page_asks_for_a_review_brief(
    acme, alice, analyst, three_fakes, make_provider, django_capture_on_commit_callbacks
):
    enable(acme, alice, three_fakes, make_provider)
    client, _ = analyst
    blocked, allowed = make_decision(acme, outcome="BLOCK"), make_decision(acme, outcome="ALLOW")
    url = f"/admin/policies/decision/{blocked.pk}/change/"
    assert 'id="advice-request-form"' in _page(client, url)
    # An ALLOW needs no brief: the panel shows, without the button.
    assert 'id="advice-request-form"' not in _page(
        client, f"/admin/policies/decision/{allowed.pk}/change/"
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(f"/admin/policies/decision/{blocked.pk}/advice/").status_code == 302
    advice = run_workers(Advice.objects.get(decision=blocked))
    page = _page(client, url)
    assert "<strong>Consensus</strong>" in page and "primary_driver" in page
    client.post(
        f"/admin/policies/decision/{blocked.pk}/advice/feedback/",
        {"advice": advice.pk, "verdict": "disagree"},
    )
    assert AdviceFeedback.objects.get(advice=advice).verdict == "disagree"


def test_another_tenants_subject_is_not_found(
    acme, globex, alice, analyst, three_fakes, make_provider
):
    enable(acme, alice, three_fakes, make_provider)
    foreign = FindingFactory(tenant=globex)
    client, _ = analyst
    response = client.post(f"/admin/findings/finding/{foreign.pk}/advice/")
    assert response.status_code == 404
    assert not Advice.objects.exists()


def test_the_dashboard_shows_the_analysts_agree_rate(
    acme,
    alice,
    analyst,
    three_fakes,
    fake_gemini,
    make_provider,
    django_capture_on_commit_callbacks,
):
    from datetime import timedelta

    from django.utils import timezone

    from apps.advisory.advice_selectors import advice_agree_rates
    from apps.advisory.advising import advice_feedback

    client, user = analyst
    assert 'id="fx-advice-quality"' not in _page(client, "/admin/")  # absent: hidden
    enable(acme, alice, three_fakes, make_provider, threshold=0.6)
    fake_gemini.mode = "disagree"  # consensus of two; gemini's answer is not the one shown
    rated = []
    for verdict in ("agree", "agree", "disagree"):
        finding = FindingFactory(tenant=acme)
        with django_capture_on_commit_callbacks(execute=False):
            client.post(f"/admin/findings/finding/{finding.pk}/advice/")
        advice = run_workers(Advice.objects.get(finding=finding))
        advice_feedback(advice=advice, user=user, verdict=verdict, actor="user:ana")
        rated.append(advice)
    rates = advice_agree_rates(tenant=acme, since=timezone.now() - timedelta(days=1))
    assert rates["consensus"] == {"agree": 2, "disagree": 1, "n": 3, "rate": 0.667}
    by_provider = {p["provider"]: p for p in rates["providers"]}
    assert by_provider["fake-openai"]["n"] == 3 and "fake-gemini" not in by_provider
    page = _page(client, "/admin/")
    assert 'data-value="advice-consensus">67%' in page
