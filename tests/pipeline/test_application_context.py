"""An application's exposure, criticality and data class weigh in its findings' risk: changing
them re-scores the findings (a repeated scan, apps/findings/repeat.py, re-scores nothing)."""

from __future__ import annotations

import pytest

from apps.findings.models import Finding
from apps.findings.services import application_update
from apps.intel.scoring import risk_refresh
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(acme):
    app = ApplicationFactory(tenant=acme, name="shop", criticality="low")
    for _ in range(3):
        FindingFactory(tenant=acme, application=app, kind="sca", vuln_id="CVE-2021-44228")
    risk_refresh(application_id=app.pk)
    return app


def scores(app) -> list[float]:
    return list(Finding.objects.filter(application=app).values_list("risk_score", flat=True))


def test_a_context_change_rescores_the_findings(scored, django_capture_on_commit_callbacks):
    before = scores(scored)

    with django_capture_on_commit_callbacks(execute=True):
        application_update(application=scored, criticality="critical", internet_exposed=True)

    after = scores(scored)
    assert all(a > b for a, b in zip(after, before, strict=True))


def test_other_changes_rescore_nothing(scored, django_capture_on_commit_callbacks):
    Finding.objects.filter(application=scored).update(risk_score=None)

    with django_capture_on_commit_callbacks(execute=True):
        application_update(application=scored, description="the web shop", criticality="low")

    assert scores(scored) == [None, None, None]
