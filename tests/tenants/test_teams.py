"""Teams: the admin role writes, every member reads, members are the tenant's own people."""

from __future__ import annotations

import pytest

from apps.findings.owners import Owner, finding_assign
from apps.tenants.models import Team
from apps.tenants.teams import team_create
from fixops.platform.errors import Invalid
from fixops.platform.models import AuditEvent
from tests.findings.factories import FindingFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/teams/"


def test_admin_creates_a_team_of_members_and_it_is_audited(acme, alice, bob, acme_admin):
    response = acme_admin.post(
        URL, {"name": " payments ", "members": ["bob", "alice"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["members"]) == ("payments", ["alice", "bob"])
    event = AuditEvent.objects.get(action="team.create")
    assert event.after == {"name": "payments", "members": ["alice", "bob"]}
    assert event.tenant_id == acme.pk


def test_members_must_belong_to_the_tenant(acme, alice, charlie, acme_admin):
    for name in ("charlie", "nobody-at-all"):  # another tenant's user and no user look alike
        response = acme_admin.post(URL, {"name": "t", "members": [name]}, format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["details"]) == ("not_a_member", {"members": [name]})
    assert not Team.objects.exists()


def test_names_are_unique_per_tenant_and_clean(acme, globex, acme_admin, globex_admin):
    assert acme_admin.post(URL, {"name": "ops"}, format="json").status_code == 201
    again = acme_admin.post(URL, {"name": "ops"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert globex_admin.post(URL, {"name": "ops"}, format="json").status_code == 201
    # Over the API a NUL arrives as U+FFFD (the JSON parser's rule); other callers are refused.
    assert acme_admin.post(URL, {"name": "a\x00b"}, format="json").json()["name"] == "a\ufffdb"
    with pytest.raises(Invalid) as refused:
        team_create(tenant=acme, name="a\x00c", actor="test")
    assert refused.value.code == "invalid_team"


def test_roles_readers_and_writers(acme, acme_viewer, acme_analyst):
    team = team_create(tenant=acme, name="sec", actor="test")
    assert acme_viewer.get(URL).json()["results"][0]["name"] == "sec"
    assert acme_viewer.get(f"{URL}{team.pk}/").status_code == 200
    assert acme_analyst.post(URL, {"name": "x"}, format="json").status_code == 403
    assert acme_analyst.patch(f"{URL}{team.pk}/", {"name": "y"}, format="json").status_code == 403
    assert acme_analyst.delete(f"{URL}{team.pk}/").status_code == 403


def test_patch_renames_and_replaces_members_in_one_request(acme, alice, bob, acme_admin):
    team = team_create(tenant=acme, name="sec", members=[alice], actor="test")
    response = acme_admin.patch(
        f"{URL}{team.pk}/", {"name": "appsec", "members": ["bob"]}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["members"]) == ("appsec", ["bob"])
    members = AuditEvent.objects.get(action="team.members")
    assert (members.before, members.after) == ({"members": ["alice"]}, {"members": ["bob"]})
    assert AuditEvent.objects.get(action="team.update").before == {"name": "sec"}
    # A refused member changes nothing, the name included.
    refused = acme_admin.patch(
        f"{URL}{team.pk}/", {"name": "other", "members": ["ghost"]}, format="json"
    )
    assert refused.status_code == 400
    team.refresh_from_db()
    assert team.name == "appsec"


def test_deleting_a_team_leaves_its_findings_without_owner(acme, acme_admin):
    team = team_create(tenant=acme, name="sec", actor="test")
    finding = FindingFactory(tenant=acme)
    finding_assign(tenant=acme, finding=finding, owner=Owner(team=team), actor="test")
    assert acme_admin.delete(f"{URL}{team.pk}/").status_code == 204
    finding.refresh_from_db()
    assert finding.owner_team_id is None and finding.owner is None
    assert AuditEvent.objects.get(action="team.delete").before == {"name": "sec", "members": []}


def test_outsider_gets_404_and_changes_nothing(acme, globex_admin):
    team = team_create(tenant=acme, name="sec", actor="test")
    path = f"{URL}{team.pk}/"
    assert globex_admin.get(path).status_code == 404
    assert globex_admin.patch(path, {"name": "x"}, format="json").status_code == 404
    assert globex_admin.delete(path).status_code == 404
    assert globex_admin.get(URL).json()["results"] == []
    assert Team.objects.get(pk=team.pk).name == "sec"


def test_tokens_reach_teams_with_the_teams_scope(acme, issue_token, api_client):
    findings_only = api_client(issue_token(acme, role="admin", scopes=["findings:read"]))
    response = findings_only.get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required"] == {"scope": "teams:read"}
    reader = api_client(issue_token(acme, role="viewer", scopes=["teams:read"]))
    assert reader.get(URL).status_code == 200
