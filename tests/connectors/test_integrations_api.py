"""/api/v1/integrations/ and /api/v1/outbox/: roles, write-only credentials, validation,
SSRF, /test and /sync against a fake vendor, the outbox list and replay / cancel."""

from __future__ import annotations

import pytest

from apps.connectors.models import ExternalLink, Integration, MessageStatus, OutboxMessage
from tests.connectors.factories import enqueue_tickets
from tests.findings.factories import FindingFactory

pytestmark = pytest.mark.django_db


def _body(fake, **overrides) -> dict:
    config = fake.config()
    return {
        "kind": config["kind"],
        "name": "Security Jira",
        "base_url": config["base_url"],
        "credentials": config["credentials"],
        "settings": config["settings"],
        "min_severity": "high",
        **overrides,
    }


def test_admin_creates_and_credentials_never_come_back(acme_admin, fake_jira, acme):
    response = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["has_credentials"] is True and "credentials" not in data
    assert fake_jira.api_token not in response.content.decode()
    assert data["health"]["breaker_state"] == "closed"
    assert data["health"]["queue"] == {"pending": 0, "in_flight": 0, "failed": 0, "dead": 0}
    stored = Integration.objects.get(pk=data["id"])
    assert fake_jira.api_token.encode() not in bytes(stored.credentials_token)  # encrypted
    assert stored.credentials == fake_jira.config()["credentials"]
    listed = acme_admin.get("/api/v1/integrations/").json()
    assert [i["name"] for i in listed["results"]] == ["Security Jira"]
    assert fake_jira.api_token not in str(listed)


def test_viewers_read_and_only_admins_write(acme_viewer, acme_analyst, acme_admin, fake_jira):
    created = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json").json()
    assert acme_viewer.get("/api/v1/integrations/").status_code == 200
    assert acme_viewer.get(f"/api/v1/integrations/{created['id']}/").status_code == 200
    for client in (acme_viewer, acme_analyst):
        assert (
            client.post("/api/v1/integrations/", _body(fake_jira), format="json").status_code == 403
        )
        url = f"/api/v1/integrations/{created['id']}/"
        assert client.patch(url, {"enabled": False}, format="json").status_code == 403
        assert client.post(f"{url}test").status_code == 403
        assert client.post(f"{url}sync").status_code == 403


def test_hostile_configuration_gets_a_clear_400(acme_admin, fake_jira):
    cases = [
        ({"kind": "myspace"}, "kind"),
        ({"credentials": {"email": "x"}}, "credentials"),
        ({"base_url": "http://169.254.169.254/latest/"}, "base_url"),
        ({"base_url": "http://10.0.0.5/"}, "base_url"),
        ({"base_url": "file:///etc/passwd"}, "base_url"),
        ({"templates": {"title": "${title.__class__}"}}, "templates.title"),
        ({"templates": {"title": "$secret_key"}}, "templates.title"),
        ({"templates": {"subject": "x"}}, "templates.subject"),
        ({"min_risk": 1000}, "min_risk"),
    ]
    for override, field in cases:
        response = acme_admin.post(
            "/api/v1/integrations/", _body(fake_jira, **override), format="json"
        )
        assert response.status_code == 400, (override, response.content)
        assert field in response.content.decode(), (override, response.content)
    assert not Integration.objects.exists()


def test_duplicate_name_is_409(acme_admin, fake_jira):
    assert (
        acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json").status_code == 201
    )
    response = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json")
    assert response.status_code == 409


def test_update_keeps_credentials_unless_given(acme_admin, fake_jira):
    created = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json").json()
    url = f"/api/v1/integrations/{created['id']}/"
    response = acme_admin.patch(
        url, {"min_severity": "critical", "grouping": "rule"}, format="json"
    )
    assert response.status_code == 200, response.content
    integration = Integration.objects.get(pk=created["id"])
    assert integration.min_severity == "critical" and integration.grouping == "rule"
    assert integration.credentials == fake_jira.config()["credentials"]
    response = acme_admin.patch(
        url, {"credentials": {"email": "new@acme.test", "api_token": "t2"}}, format="json"
    )
    assert response.status_code == 200
    integration.refresh_from_db()
    assert integration.credentials["email"] == "new@acme.test"
    assert acme_admin.delete(url).status_code == 204
    assert not Integration.objects.exists()


def test_test_answers_what_the_vendor_said(acme_admin, fake_jira):
    created = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json").json()
    response = acme_admin.post(f"/api/v1/integrations/{created['id']}/test")
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True and "jane@acme.test" in response.json()["message"]
    # Wrong credentials: 502 carrying the vendor's own message.
    acme_admin.patch(
        f"/api/v1/integrations/{created['id']}/",
        {"credentials": {"email": "jane@acme.test", "api_token": "wrong"}},
        format="json",
    )
    response = acme_admin.post(f"/api/v1/integrations/{created['id']}/test/")
    assert response.status_code == 502
    assert response.json()["error"]["details"]["vendor_status"] == 401


def test_sync_really_pushes_and_answers_counts(acme_admin, acme, fake_jira):
    created = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json").json()
    high = FindingFactory.create_batch(3, tenant=acme, severity="high")
    FindingFactory(tenant=acme, severity="low")  # below the bar
    FindingFactory(tenant=acme, severity="critical", status="fixed")  # no work left
    response = acme_admin.post(f"/api/v1/integrations/{created['id']}/sync")
    assert response.status_code == 200, response.content
    in_sync = {"pending": 0, "retrying": 0, "dead": 0, "breaker_open": 0, "drift": 0}
    assert response.json() == {"queued": 3, "delivered": 3, "failed": 0, "out_of_sync": in_sync}
    assert len(fake_jira.state["issues"]) == 3
    assert {link.finding_id for link in ExternalLink.objects.all()} == {f.pk for f in high}
    # In sync now: nothing to do.
    again = acme_admin.post(f"/api/v1/integrations/{created['id']}/sync").json()
    assert again == {"queued": 0, "delivered": 0, "failed": 0, "out_of_sync": in_sync}
    # A finding fixed behind the tracker's back: sync closes its ticket.
    high[0].status = "fixed"
    high[0].save()
    third = acme_admin.post(f"/api/v1/integrations/{created['id']}/sync").json()
    assert third["queued"] == 1 and third["delivered"] == 1
    [issue] = fake_jira.with_reference(f"fixops-f-{high[0].pk}")
    assert issue["fields"]["status"]["name"] == "Done"


def test_sync_reports_failures_honestly(acme_admin, acme, fake_jira):
    created = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json").json()
    FindingFactory(tenant=acme, severity="high")
    fake_jira.down()
    counts = acme_admin.post(f"/api/v1/integrations/{created['id']}/sync").json()
    assert counts["queued"] == 1 and counts["delivered"] == 0
    assert counts["failed"] == 1 and counts["out_of_sync"]["retrying"] == 1


def test_outbox_list_filters_and_detail(acme_admin, acme_viewer, acme, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    enqueue_tickets(jira, 3)
    OutboxMessage.objects.filter(reference=f"fixops-t-{jira.pk}-0").update(
        status=MessageStatus.DEAD, last_error="vendor said no"
    )
    listed = acme_viewer.get("/api/v1/outbox/").json()["results"]
    assert len(listed) == 3
    dead = acme_viewer.get("/api/v1/outbox/", {"status": "dead"}).json()["results"]
    assert [m["last_error"] for m in dead] == ["vendor said no"]
    assert acme_viewer.get("/api/v1/outbox/", {"integration": jira.pk, "kind": "upsert"}).json()[
        "results"
    ]
    assert not acme_viewer.get("/api/v1/outbox/", {"older_than": 3600}).json()["results"]
    assert acme_viewer.get("/api/v1/outbox/", {"status": "lost"}).status_code == 400
    detail = acme_viewer.get(f"/api/v1/outbox/{dead[0]['id']}/").json()
    assert detail["payload"]["ticket"]["title"] == "ticket 0" and detail["attempt_history"] == []
    # Replay (admin only) and cancel.
    assert acme_viewer.post(f"/api/v1/outbox/{dead[0]['id']}/replay/").status_code == 403
    replayed = acme_admin.post(f"/api/v1/outbox/{dead[0]['id']}/replay/").json()
    assert replayed["status"] == "pending" and replayed["attempts"] == 0
    assert acme_admin.post(f"/api/v1/outbox/{dead[0]['id']}/replay/").status_code == 409
    cancelled = acme_admin.post(f"/api/v1/outbox/{dead[0]['id']}/cancel/").json()
    assert cancelled["status"] == "dead" and "cancelled by token:" in cancelled["last_error"]
    assert acme_admin.post(f"/api/v1/outbox/{dead[0]['id']}/cancel/").status_code == 409


def test_other_tenants_see_nothing(acme, globex_admin, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    enqueue_tickets(jira, 1)
    message = OutboxMessage.objects.get()
    assert globex_admin.get("/api/v1/integrations/").json()["results"] == []
    assert globex_admin.get("/api/v1/outbox/").json()["results"] == []
    assert globex_admin.get(f"/api/v1/integrations/{jira.pk}/").status_code == 404
    assert globex_admin.post(f"/api/v1/integrations/{jira.pk}/sync").status_code == 404
    assert globex_admin.get(f"/api/v1/outbox/{message.pk}/").status_code == 404


def test_kinds_describe_each_connectors_declared_configuration(acme_viewer):
    response = acme_viewer.get("/api/v1/integrations/kinds/")
    assert response.status_code == 200, response.content
    kinds = {k["kind"]: k for k in response.json()}
    assert set(kinds) == {
        "jira", "servicenow", "gitlab", "github", "azure_devops", "slack", "confluence",
        "teams", "email", "webhook",
    }  # fmt: skip
    gitlab = {f["name"]: f for f in kinds["gitlab"]["fields"]}
    assert gitlab["token"] == {
        "name": "token",
        "label": "Access token",
        "in": "credentials",
        "type": "text",
        "required": False,
        "secret": True,
        "help": "A personal or project access token with the api scope.",
    }
    assert gitlab["project"]["required"] is True and gitlab["project"]["in"] == "settings"
    assert kinds["slack"]["credential_sets"] == [["bot_token"], ["webhook_url"]]
    jira = {f["name"]: f for f in kinds["jira"]["fields"]}
    assert jira["deployment"]["choices"] == ["cloud", "datacenter"]
    assert jira["deployment"]["default"] == "cloud"


def test_the_api_validates_with_the_declared_types(acme_admin, fake_slack, fake_servicenow):
    body = {**fake_slack.config(), "name": "chat"}
    body["settings"] = {**body["settings"], "history_pages": "many"}
    response = acme_admin.post("/api/v1/integrations/", body, format="json")
    assert response.status_code == 400
    assert "settings.history_pages" in response.json()["error"]["details"]
    # A number where text is declared stays accepted (ServiceNow states were numbers before).
    body = {**fake_servicenow.config(), "name": "snow"}
    body["settings"] = {"resolved_state": 6, "comment_field": "comments"}
    assert acme_admin.post("/api/v1/integrations/", body, format="json").status_code == 201
