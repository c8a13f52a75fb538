"""Secrets never enter the audit log, a delete blocked by PROTECT answers 409 naming the
blockers even when no service caught it, and the admin audits what it saves and deletes."""

from __future__ import annotations

import pytest
from django.db.models import ProtectedError, RestrictedError
from django.test import Client

from apps.evidence.models import EvidenceBundle
from apps.policies.models import Decision
from apps.tenants.models import Membership
from fixops.platform.api.errors import exception_handler
from fixops.platform.audit import REDACTED, audit_chain_walk, audit_record, is_secret_key
from fixops.platform.models import AuditEvent
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "api_token",
        "bot_token",
        "password",
        "client_secret",
        "webhook_secret",
        "credentials",
        "private_key",
        "signing_key",
        "secret_hash",
        "totp_secret",
        "plaintext",
        "Authorization",
        "otp",
    ],
)
def test_secret_keys_are_recognised(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["name", "prefix", "dedup_key", "keyid", "role", "fields", "status", "token_count"]
)
def test_ordinary_keys_are_not(key):
    assert not is_secret_key(key)


def test_secret_values_are_redacted_at_any_depth_and_the_chain_verifies(acme):
    event = audit_record(
        tenant=acme,
        actor="user:alice",
        action="integration.update",
        target_type="connectors.integration",
        target_id=1,
        before={"credentials": {"api_token": "old-s3cret"}},
        after={
            "name": "Jira",
            "fields": ["credentials"],
            "nested": [{"webhook_secret": "w-s3cret", "kind": "slack"}],
            "password": "",  # nothing to hide
            "token": None,
        },
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.before == {"credentials": REDACTED}
    assert stored.after == {
        "name": "Jira",
        "fields": ["credentials"],
        "nested": [{"webhook_secret": REDACTED, "kind": "slack"}],
        "password": "",
        "token": None,
    }
    assert "s3cret" not in str((stored.before, stored.after))
    assert audit_chain_walk(tenant_id=acme.pk).problems == []


def test_an_escaped_protected_error_is_a_409_naming_the_blockers():
    blockers = [Decision(pk=1), Decision(pk=2), EvidenceBundle(pk=3)]
    response = exception_handler(ProtectedError("refused", set(blockers)), {})
    assert response.status_code == 409
    error = response.data["error"]
    assert error["code"] == "delete_blocked"
    assert error["details"]["blocked_by"] == [
        {"kind": "evidence.evidencebundle", "name": "evidence bundles", "count": 1},
        {"kind": "policies.decision", "name": "decisions", "count": 2},
    ]
    assert "2 decisions" in error["message"] and "1 evidence bundle," in error["message"]
    restricted = exception_handler(RestrictedError("refused", {Decision(pk=4)}), {})
    assert restricted.status_code == 409


@pytest.fixture
def admin_client(alice):
    alice.is_staff = True
    alice.save()
    client = Client()
    client.force_login(alice)
    return client


def test_admin_saves_and_deletes_are_audited(acme, alice, admin_client):
    response = admin_client.post(
        f"/admin/tenants/tenant/{acme.pk}/change/",
        {"name": "Acme Corp", "token_max_lifetime_days": "30"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    member = MembershipFactory(tenant=acme, user=UserFactory(username="frank"), role="viewer")
    response = admin_client.post(f"/admin/tenants/membership/{member.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()
    rows = list(
        AuditEvent.objects.filter(tenant_id=acme.pk, action__startswith="admin.")
        .order_by("seq")
        .values_list("action", "actor", "target_type", "before", "after")
    )
    change, delete = rows
    assert change[:3] == ("admin.change", "user:alice", "tenants.tenant")
    assert change[4]["name"] == "Acme Corp" and change[4]["token_max_lifetime_days"] == 30
    assert change[3]["name"] == "Acme"
    assert delete[:3] == ("admin.delete", "user:alice", "tenants.membership")
    assert audit_chain_walk(tenant_id=acme.pk).problems == []


def test_a_password_set_in_the_admin_is_audited_without_the_password(django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    target = UserFactory(username="gina")
    client = Client()
    client.force_login(root)
    response = client.post(
        f"/admin/auth/user/{target.pk}/password/",
        {"password1": "Tr0ub4dor&3-horse", "password2": "Tr0ub4dor&3-horse"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    (row,) = AuditEvent.objects.filter(tenant_id=None, target_type="auth.user")
    assert (row.action, row.actor, row.target_id) == ("admin.change", "user:root", str(target.pk))
    assert row.after == {"fields": ["password"]}
    assert "horse" not in str((row.before, row.after))
