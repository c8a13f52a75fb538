"""The gate's past-SLA rule reads the findings layer's `due_at`: it computes no deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.findings.models import Finding
from apps.pipeline.gate import decision_make
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db


def test_past_sla_follows_due_at(acme):
    now = timezone.now()
    app = ApplicationFactory(tenant=acme, name="shop")
    # Seen yesterday, yet due an hour ago (e.g. a strict override): past SLA.
    late = FindingFactory(
        tenant=acme, application=app, severity="critical", first_seen=now - timedelta(days=1)
    )
    Finding.objects.filter(pk=late.pk).update(due_at=now - timedelta(hours=1))
    # Seen 40 days ago but given until tomorrow: not past it.
    fine = FindingFactory(
        tenant=acme, application=app, severity="critical", first_seen=now - timedelta(days=40)
    )
    Finding.objects.filter(pk=fine.pk).update(due_at=now + timedelta(days=1))
    decision = decision_make(tenant=acme, application=app, commit="c")
    summary = decision.input["summary"]
    assert summary["past_sla"] == 1 and summary["past_sla_by_severity"] == {"critical": 1}
    late_profile = [p for p in decision.input["profiles"] if p["past_sla"]]
    assert [p["members"] for p in late_profile] == [[late.pk]]
    sla = [r["finding_ids"] for r in decision.reasons if r["rule"] == "FX-SLA"]
    assert sla == [[late.pk]] and decision.outcome == "NEEDS_REVIEW"
