"""The admin's owner and team pages: "Assign to me" and "Assign to…" call the service (scoped
to the tenant, audited); the team page writes through the team services; a finding's page
shows its comment thread."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.findings.comments import comment_add
from apps.findings.models import Finding
from apps.tenants.models import Team
from apps.tenants.teams import team_create
from fixops.platform.models import AuditEvent
from tests.findings.factories import FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/findings/finding/"


def staff(username: str, tenant, role: str) -> tuple[Client, object]:
    user = UserFactory(username=username, is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client, user


def test_assign_to_me(acme):
    finding = FindingFactory(tenant=acme)
    client, user = staff("ana", acme, "analyst")
    response = client.post(CHANGELIST, {"action": "assign_to_me", "_selected_action": [finding.pk]})
    assert response.status_code == 302
    assert Finding.objects.get(pk=finding.pk).owner_user_id == user.pk
    assert AuditEvent.objects.get(action="finding.assign").actor == "user:ana"
    listing = client.get(CHANGELIST).content.decode()
    assert ">ana<" in listing  # the owner column


def test_assign_to_offers_the_tenants_people_and_teams_then_assigns(acme, globex):
    mine = FindingFactory(tenant=acme)
    team = team_create(tenant=acme, name="acme-appsec", actor="test")
    team_create(tenant=globex, name="globex-team", actor="test")
    MembershipFactory(user=UserFactory(username="globex-person"), tenant=globex)
    client, _ = staff("ana", acme, "analyst")
    step = client.post(CHANGELIST, {"action": "assign_to", "_selected_action": [mine.pk]})
    page = step.content.decode()
    assert step.status_code == 200
    assert "acme-appsec" in page and "ana" in page
    assert "globex-team" not in page and "globex-person" not in page
    done = client.post(
        CHANGELIST,
        {
            "action": "assign_to",
            "_selected_action": [mine.pk],
            "apply": "Assign",
            "owner": f"team:{team.pk}",
        },
    )
    assert done.status_code == 302
    assert Finding.objects.get(pk=mine.pk).owner_team_id == team.pk


def test_viewer_has_no_assign_actions(acme):
    finding = FindingFactory(tenant=acme)
    client, _ = staff("vic", acme, "viewer")
    client.post(CHANGELIST, {"action": "assign_to_me", "_selected_action": [finding.pk]})
    assert Finding.objects.get(pk=finding.pk).owner is None


def test_team_page_writes_through_the_services(acme, globex):
    client, admin_user = staff("ada", acme, "admin")
    outsider = UserFactory(username="outsider")
    MembershipFactory(user=outsider, tenant=globex)
    refused = client.post(
        "/admin/tenants/team/add/",
        {"tenant": acme.pk, "name": "sec", "members": [outsider.pk]},
    )
    assert refused.status_code in (200, 400) and not Team.objects.exists()
    created = client.post(
        "/admin/tenants/team/add/", {"tenant": acme.pk, "name": "sec", "members": [admin_user.pk]}
    )
    assert created.status_code == 302
    team = Team.objects.get(name="sec")
    assert list(team.members.values_list("username", flat=True)) == ["ada"]
    assert {e.action for e in AuditEvent.objects.all()} >= {"team.create", "team.members"}
    deleted = client.post(f"/admin/tenants/team/{team.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not Team.objects.exists()
    assert AuditEvent.objects.filter(action="team.delete").exists()


def test_finding_page_shows_the_comment_thread(acme):
    finding = FindingFactory(tenant=acme)
    comment_add(tenant=acme, finding=finding, body="looks-reachable", actor="user:ana")
    client, _ = staff("vic", acme, "viewer")
    page = client.get(f"{CHANGELIST}{finding.pk}/change/").content.decode()
    assert "looks-reachable" in page
