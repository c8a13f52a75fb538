"""The SLA in the API: `due_at` and `sla_state` on every finding, `?sla=` and ordering by
due_at, and SLA compliance per application."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def shop(acme):
    now = timezone.now()
    app = ApplicationFactory(tenant=acme, name="shop")
    rows = {
        "overdue": FindingFactory(tenant=acme, application=app, due_at=now - DAY),
        "due_soon": FindingFactory(tenant=acme, application=app, due_at=now + DAY),
        "on_time": FindingFactory(tenant=acme, application=app, due_at=now + 20 * DAY),
        "paused": FindingFactory(
            tenant=acme, application=app, due_at=now - 2 * DAY, status="risk_accepted"
        ),
    }
    return app, rows


def test_every_finding_carries_due_at_and_state(acme_analyst, shop):
    _, rows = shop
    listed = acme_analyst.get("/api/v1/findings/").json()["results"]
    assert {f["id"]: f["sla_state"] for f in listed} == {f.pk: s for s, f in rows.items()}
    detail = acme_analyst.get(f"/api/v1/findings/{rows['overdue'].pk}/").json()
    assert detail["sla_state"] == "overdue" and detail["due_at"]
    moved = acme_analyst.post(
        f"/api/v1/findings/{rows['overdue'].pk}/transition/", {"status": "fixed"}, format="json"
    ).json()
    assert moved["sla_state"] == "" and moved["due_at"] == detail["due_at"]


def test_filter_by_sla_state_and_order_by_due_at(acme_analyst, shop):
    _, rows = shop

    def ids(query):
        return [f["id"] for f in acme_analyst.get(f"/api/v1/findings/?{query}").json()["results"]]

    assert ids("sla=overdue") == [rows["overdue"].pk]
    assert set(ids("sla=overdue&sla=due_soon")) == {rows["overdue"].pk, rows["due_soon"].pk}
    assert ids("sla=paused") == [rows["paused"].pk]
    assert ids("sla=on_time") == [rows["on_time"].pk]
    soonest = [rows[s].pk for s in ("paused", "overdue", "due_soon", "on_time")]
    assert ids("ordering=due_at") == soonest
    assert acme_analyst.get("/api/v1/findings/?sla=late").status_code == 400


def test_application_sla_compliance(acme_analyst, globex_admin, shop):
    app, _ = shop
    body = acme_analyst.get(f"/api/v1/applications/{app.pk}/sla/").json()
    assert body["by_state"] == {"on_time": 1, "due_soon": 1, "overdue": 1, "paused": 1}
    assert (body["open"], body["on_time_percent"], body["due_soon_days"]) == (4, 66.7, 3)
    assert globex_admin.get(f"/api/v1/applications/{app.pk}/sla/").status_code == 404
    assert globex_admin.get("/api/v1/findings/?sla=overdue").json()["results"] == []
