"""The notification rules API and admin: viewers read, admins write; the channel must be the
caller's own integration; unknown events are refused; every change is audited; a token scoped
to integrations only cannot touch rules; the admin creates a webhook and shows its secret once."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.connectors.models import Integration, NotificationRule
from fixops.platform.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/notification-rules/"


def _teams(tenant, name: str = "teams") -> Integration:
    integration = Integration(
        tenant=tenant, kind="teams", name=name, base_url="https://prod-1.example.logic.azure.com"
    )
    integration.credentials = {"webhook_url": "https://prod-1.example.logic.azure.com/w?sig=s"}
    integration.save()
    return integration


def test_admin_creates_changes_and_deletes_a_rule(acme, acme_admin):
    teams = _teams(acme)
    created = acme_admin.post(
        URL,
        {"name": "kev to teams", "events": ["kev_added", "epss_crossed"], "integration": teams.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["events"] == ["kev_added", "epss_crossed"]
    assert body["min_severity"] == "info" and body["enabled"] is True
    assert body["integration"] == teams.pk and body["integration_kind"] == "teams"
    rule_url = f"{URL}{body['id']}/"
    changed = acme_admin.patch(rule_url, {"min_severity": "high"}, format="json")
    assert changed.status_code == 200 and changed.json()["min_severity"] == "high"
    assert acme_admin.post(URL, {**body, "integration": teams.pk}, format="json").status_code == 409
    assert acme_admin.delete(rule_url).status_code == 204
    actions = list(
        AuditEvent.objects.filter(target_type="connectors.notificationrule")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "notification_rule.create",
        "notification_rule.update",
        "notification_rule.delete",
    ]


def test_viewers_read_and_cannot_write(acme, issue_token, api_client):
    NotificationRule.objects.create(
        tenant=acme, name="r", events=["sla_breached"], integration=_teams(acme)
    )
    viewer = api_client(issue_token(acme, role="viewer"))
    listed = viewer.get(URL).json()["results"]
    assert [r["name"] for r in listed] == ["r"]
    assert viewer.post(URL, {}, format="json").status_code == 403


def test_another_tenants_integration_and_unknown_events_are_refused(acme, globex, acme_admin):
    theirs = _teams(globex, "theirs")
    answer = acme_admin.post(
        URL, {"name": "x", "events": ["kev_added"], "integration": theirs.pk}, format="json"
    )
    assert answer.status_code == 400
    assert "theirs" not in answer.content.decode()
    answer = acme_admin.post(
        URL, {"name": "x", "events": ["kev"], "integration": _teams(acme).pk}, format="json"
    )
    assert answer.status_code == 400 and "events" in answer.json()["error"]["details"]
    assert not NotificationRule.objects.exists()


def test_the_notifications_scope_guards_rules(acme, issue_token, api_client):
    only_integrations = api_client(issue_token(acme, role="admin", scopes=["integrations:*"]))
    assert only_integrations.get(URL).status_code == 403
    rules = api_client(issue_token(acme, role="admin", scopes=["notifications:read"]))
    assert rules.get(URL).status_code == 200


def test_admin_adds_a_rule_and_a_webhook_with_its_secret_shown_once(acme, alice):
    alice.is_staff = True
    alice.save()
    staff = Client()
    staff.force_login(alice)
    answer = staff.post(
        "/admin/connectors/integration/add/?kind=webhook",
        {
            "tenant": acme.pk,
            "name": "siem",
            "base_url": "http://127.0.0.1:9/hooks",
            "min_severity": "high",
            "grouping": "finding",
            "templates": "{}",
            "enabled": "on",
        },
        follow=True,
    )
    page = answer.content.decode()
    [secret] = re.findall(
        r"Generated signing_secret \(shown once, store it now\): (whsec_\S+?)<", page
    )
    webhook = Integration.objects.get(name="siem")
    assert webhook.credentials == {"signing_secret": secret}
    answer = staff.post(
        "/admin/connectors/notificationrule/add/",
        {
            "tenant": acme.pk,
            "name": "all to siem",
            "events": ["kev_added", "decision_block"],
            "min_severity": "medium",
            "integration": webhook.pk,
            "enabled": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    rule = NotificationRule.objects.get()
    assert rule.events == ["kev_added", "decision_block"] and rule.integration == webhook
    assert AuditEvent.objects.filter(action="notification_rule.create").exists()


def test_an_email_channel_needs_no_base_url_but_a_tracker_does(acme_admin):
    email = acme_admin.post(
        "/api/v1/integrations/",
        {
            "kind": "email",
            "name": "security mail",
            "credentials": {},
            "settings": {"recipients": ["secops@example.com"]},
        },
        format="json",
    )
    assert email.status_code == 201, email.content
    assert Integration.objects.get(name="security mail").base_url == ""
    jira = acme_admin.post(
        "/api/v1/integrations/",
        {
            "kind": "jira",
            "name": "jira",
            "credentials": {"email": "bot@example.com", "api_token": "t"},
            "settings": {"project_key": "SEC"},
        },
        format="json",
    )
    assert jira.status_code == 400, jira.content
    assert "base_url" in str(jira.json()), jira.json()
    assert not Integration.objects.filter(name="jira").exists()
