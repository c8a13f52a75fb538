"""Comments on findings: a thread, oldest first; authors edit, authors and admins delete;
every change audited with its text; another tenant's finding or comment is 404."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.connectors.models import Integration
from apps.findings.comments import comment_add, comment_edit
from apps.findings.models import FindingComment
from apps.findings.models.comment import BODY_MAX
from fixops.platform.errors import Conflict, Forbidden, Invalid
from fixops.platform.models import AuditEvent
from tests.findings.factories import FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def thread(finding) -> str:
    return f"/api/v1/findings/{finding.pk}/comments/"


def member(tenant, username: str, role: str) -> APIClient:
    user = UserFactory(username=username)
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = APIClient()
    client.force_login(user)
    return client


def test_thread_is_oldest_first_paginated_and_names_authors(acme, acme_viewer):
    finding = FindingFactory(tenant=acme)
    ann = member(acme, "ann", "analyst")
    for text in ("first", "second", "third"):
        assert ann.post(thread(finding), {"body": text}, format="json").status_code == 201
    page = acme_viewer.get(thread(finding), {"page_size": 2}).json()
    assert [c["body"] for c in page["results"]] == ["first", "second"]
    assert page["results"][0]["author"] == "user:ann"
    assert page["results"][0]["source"] == "fixops"
    rest = acme_viewer.get(page["next"]).json()
    assert [c["body"] for c in rest["results"]] == ["third"]
    assert FindingComment.objects.filter(author__username="ann").count() == 3
    event = AuditEvent.objects.filter(action="comment.add").order_by("seq").first()
    assert event.after["body"] == "first" and event.actor == "user:ann"


def test_body_is_bounded(acme, acme_analyst):
    finding = FindingFactory(tenant=acme)
    for body in ("", "   ", "x" * (BODY_MAX + 1)):
        assert acme_analyst.post(thread(finding), {"body": body}, format="json").status_code == 400
    # A NUL over the API arrives as U+FFFD (the JSON parser's rule); other callers are refused.
    stored = acme_analyst.post(thread(finding), {"body": "a\x00b"}, format="json").json()
    assert stored["body"] == "a\ufffdb"
    with pytest.raises(Invalid) as refused:
        comment_add(tenant=acme, finding=finding, body="a\x00b", actor="sync")
    assert refused.value.code == "invalid_comment"


def test_only_the_author_edits(acme):
    finding = FindingFactory(tenant=acme)
    ann, ben = member(acme, "ann", "analyst"), member(acme, "ben", "admin")
    comment = ann.post(thread(finding), {"body": "draft"}, format="json").json()
    path = f"{thread(finding)}{comment['id']}/"
    other = ben.patch(path, {"body": "hijacked"}, format="json")
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "not_comment_author"
    edited = ann.patch(path, {"body": "final"}, format="json")
    assert edited.status_code == 200
    assert edited.json()["body"] == "final" and edited.json()["edited_at"] is not None
    event = AuditEvent.objects.get(action="comment.edit")
    assert (event.before, event.after) == ({"body": "draft"}, {"body": "final"})


def test_authors_and_admins_delete_and_the_text_stays_on_record(acme):
    finding = FindingFactory(tenant=acme)
    ann, cat = member(acme, "ann", "analyst"), member(acme, "cat", "analyst")
    boss = member(acme, "boss", "admin")
    first = ann.post(thread(finding), {"body": "one"}, format="json").json()["id"]
    second = ann.post(thread(finding), {"body": "two"}, format="json").json()["id"]
    assert cat.delete(f"{thread(finding)}{first}/").status_code == 403
    assert ann.delete(f"{thread(finding)}{first}/").status_code == 204
    assert boss.delete(f"{thread(finding)}{second}/").status_code == 204
    assert not FindingComment.objects.exists()
    deleted = AuditEvent.objects.filter(action="comment.delete").order_by("seq")
    assert [(e.actor, e.before["body"]) for e in deleted] == [
        ("user:ann", "one"),
        ("user:boss", "two"),
    ]


def test_roles_and_outsiders(acme, globex, acme_viewer, globex_admin):
    finding = FindingFactory(tenant=acme)
    comment = comment_add(tenant=acme, finding=finding, body="secret-note", actor="user:x")
    assert acme_viewer.post(thread(finding), {"body": "x"}, format="json").status_code == 403
    for response in (
        globex_admin.get(thread(finding)),
        globex_admin.post(thread(finding), {"body": "x"}, format="json"),
        globex_admin.patch(f"{thread(finding)}{comment.pk}/", {"body": "x"}, format="json"),
        globex_admin.delete(f"{thread(finding)}{comment.pk}/"),
    ):
        assert response.status_code == 404
        assert b"secret-note" not in response.content
    # A comment named under another finding of the same tenant is 404 too.
    other = FindingFactory(tenant=acme)
    ann = member(acme, "ann", "admin")
    assert ann.delete(f"{thread(other)}{comment.pk}/").status_code == 404
    assert FindingComment.objects.filter(pk=comment.pk, body="secret-note").exists()


def test_a_mirrored_comment_is_stored_once_per_integration(acme):
    finding = FindingFactory(tenant=acme)
    integration = Integration(tenant=acme, kind="jira", name="j", base_url="https://j.example")
    integration.credentials = {"token": "t"}
    integration.save()
    mirrored = dict(
        tenant=acme,
        finding=finding,
        body="From Jira",
        actor="integration:j",
        source="jira",
        integration_id=integration.pk,
        external_id="10001",
        remote_author="Jo Tester",
    )
    comment = comment_add(**mirrored)
    assert (comment.source, comment.remote_author, comment.author_id) == ("jira", "Jo Tester", None)
    with pytest.raises(Conflict):
        comment_add(**mirrored)
    # Mirrored comments are edited by the sync, never through FixOps' own edit.
    with pytest.raises(Forbidden) as refused:
        comment_edit(comment=comment, body="changed", actor="integration:j")
    assert refused.value.code == "not_comment_author"
