"""Finding owners: assign one (me, a user, a team, nobody) or many, all or nothing; filter
the list by owner; each change audited per finding, never a status event."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.findings.models import Finding, FindingEvent
from apps.findings.owners import Owner, finding_assign_bulk
from apps.tenants.teams import team_create
from fixops.platform.errors import Invalid
from fixops.platform.models import AuditEvent, Event
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db

BULK = "/api/v1/findings/bulk-assign/"


def assign_url(finding) -> str:
    return f"/api/v1/findings/{finding.pk}/assign/"


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_assign_to_me_shows_the_owner_and_audits_without_a_status_event(acme, alice):
    finding = FindingFactory(tenant=acme)
    response = session(alice).post(assign_url(finding), {"owner": "me"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == {"type": "user", "id": alice.pk, "name": "alice"}
    detail = session(alice).get(f"/api/v1/findings/{finding.pk}/").json()
    assert detail["owner"]["name"] == "alice"
    event = AuditEvent.objects.get(action="finding.assign")
    assert (event.actor, event.target_id) == ("user:alice", str(finding.pk))
    assert event.before == {"owner": None}
    assert event.after == {"owner": {"type": "user", "id": alice.pk, "name": "alice"}}
    # Ownership is no status change: no FindingEvent, no finding.changed for tickets.
    assert not FindingEvent.objects.exists()
    assert not Event.objects.filter(topic="finding.changed").exists()


def test_a_token_is_nobody_so_me_is_refused(acme, acme_analyst):
    finding = FindingFactory(tenant=acme)
    response = acme_analyst.post(assign_url(finding), {"owner": "me"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "owner_me_needs_user"


def test_user_and_team_must_be_the_tenants(acme, globex, alice, charlie, acme_analyst):
    finding = FindingFactory(tenant=acme)
    theirs = team_create(tenant=globex, name="theirs", actor="test")
    for body in ({"user": "charlie"}, {"user": "ghost"}, {"team": theirs.pk}):
        response = acme_analyst.post(assign_url(finding), body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_owner"
    both = acme_analyst.post(assign_url(finding), {"user": "alice", "team": 1}, format="json")
    assert both.status_code == 400
    assert Finding.objects.get(pk=finding.pk).owner is None
    # The service checks an Owner built by hand too.
    with pytest.raises(Invalid) as refused:
        finding_assign_bulk(
            tenant=acme, finding_ids=[finding.pk], owner=Owner(user=charlie), actor="test"
        )
    assert refused.value.code == "invalid_owner"


def test_team_owner_and_unassign(acme, acme_analyst):
    team = team_create(tenant=acme, name="appsec", actor="test")
    finding = FindingFactory(tenant=acme)
    response = acme_analyst.post(assign_url(finding), {"team": team.pk}, format="json")
    assert response.json()["owner"] == {"type": "team", "id": team.pk, "name": "appsec"}
    cleared = acme_analyst.post(assign_url(finding), {"owner": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["owner"] is None
    assert [
        e.after for e in AuditEvent.objects.filter(action="finding.assign").order_by("seq")
    ] == [
        {"owner": {"type": "team", "id": team.pk, "name": "appsec"}},
        {"owner": None},
    ]


def test_roles_and_outsiders(acme, acme_viewer, globex_admin):
    finding = FindingFactory(tenant=acme)
    assert acme_viewer.post(assign_url(finding), {"owner": None}, format="json").status_code == 403
    assert globex_admin.post(assign_url(finding), {"owner": None}, format="json").status_code == 404
    body = {"ids": [finding.pk], "owner": None}
    assert globex_admin.post(BULK, body, format="json").status_code == 404


def test_the_database_refuses_two_owners(acme, alice):
    team = team_create(tenant=acme, name="appsec", actor="test")
    finding = FindingFactory(tenant=acme)
    with pytest.raises(IntegrityError), transaction.atomic():
        Finding.objects.filter(pk=finding.pk).update(owner_user=alice, owner_team=team)


def test_bulk_is_all_or_nothing(acme, globex, alice, acme_analyst):
    mine = [FindingFactory(tenant=acme) for _ in range(3)]
    theirs = FindingFactory(tenant=globex)
    ids = [f.pk for f in mine]
    refused = acme_analyst.post(BULK, {"ids": [*ids, theirs.pk], "user": "alice"}, format="json")
    assert refused.status_code == 404
    assert not Finding.objects.filter(owner_user__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="finding.assign").exists()
    done = acme_analyst.post(BULK, {"ids": [*ids, ids[0]], "user": "alice"}, format="json")
    assert done.json() == {"requested": 3, "changed": 3}
    again = acme_analyst.post(BULK, {"ids": ids, "user": "alice"}, format="json")
    assert again.json() == {"requested": 3, "changed": 0}  # nothing changed, nothing audited
    assert AuditEvent.objects.filter(action="finding.assign").count() == 3
    too_many = acme_analyst.post(BULK, {"ids": list(range(1, 1002)), "owner": None}, format="json")
    assert too_many.status_code == 400


def test_bulk_assign_takes_the_same_queries_for_10_or_500_findings(acme, alice):
    app = ApplicationFactory(tenant=acme)
    few = [FindingFactory(tenant=acme, application=app).pk for _ in range(10)]
    many = [FindingFactory(tenant=acme, application=app).pk for _ in range(500)]
    owner = Owner(user=alice)
    # Warm up: the tenant's first audit row creates its chain head.
    first = FindingFactory(tenant=acme, application=app).pk
    finding_assign_bulk(tenant=acme, finding_ids=[first], owner=owner, actor="t")
    counts = []
    for ids in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert finding_assign_bulk(tenant=acme, finding_ids=ids, owner=owner, actor="t") == len(
                ids
            )
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert AuditEvent.objects.filter(action="finding.assign").count() == 511


def test_list_filters_by_owner(acme, alice, bob, acme_viewer):
    team = team_create(tenant=acme, name="appsec", actor="test")
    app = ApplicationFactory(tenant=acme)
    a, b, t, n = (FindingFactory(tenant=acme, application=app) for _ in range(4))
    finding_assign_bulk(tenant=acme, finding_ids=[a.pk], owner=Owner(user=alice), actor="t")
    finding_assign_bulk(tenant=acme, finding_ids=[b.pk], owner=Owner(user=bob), actor="t")
    finding_assign_bulk(tenant=acme, finding_ids=[t.pk], owner=Owner(team=team), actor="t")

    def ids(client, owner):
        response = client.get("/api/v1/findings/", {"owner": owner})
        assert response.status_code == 200, response.content
        return [f["id"] for f in response.json()["results"]]

    assert ids(acme_viewer, "alice") == [a.pk]
    assert ids(session(bob), "me") == [b.pk]
    assert ids(acme_viewer, f"team:{team.pk}") == [t.pk]
    assert ids(acme_viewer, "none") == [n.pk]
    assert ids(acme_viewer, "ghost") == []
    assert acme_viewer.get("/api/v1/findings/", {"owner": "me"}).status_code == 400
    assert acme_viewer.get("/api/v1/findings/", {"owner": "team:x"}).status_code == 400
