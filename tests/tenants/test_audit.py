"""Tokens, memberships, SSO provisioning and second factors leave audit rows naming who did
what, never a secret; the chains still verify."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_otp.oath import totp

from apps.tenants.accounts.otp import recovery_codes_regenerate, totp_confirm, totp_pending_device
from apps.tenants.models import Membership
from apps.tenants.services import membership_set
from apps.tenants.sso.config import OidcProviderConfig
from apps.tenants.sso.mapping import Rule
from apps.tenants.sso.provisioning import SsoProfile, sso_sign_in
from fixops.platform.audit import audit_chain_walk
from fixops.platform.models import AuditEvent
from tests.tenants.factories import UserFactory

pytestmark = pytest.mark.django_db


def _rows(tenant_id, **filters):
    return list(
        AuditEvent.objects.filter(tenant_id=tenant_id, **filters)
        .order_by("seq")
        .values("action", "actor", "target_type", "target_id", "before", "after")
    )


def test_token_issue_rotate_revoke_are_audited_without_the_secret(acme, acme_admin):
    issued = acme_admin.post(
        "/api/v1/tokens/", {"name": "ci", "role": "analyst"}, format="json"
    ).json()
    prefix = issued["prefix"]
    rotated = acme_admin.post(f"/api/v1/tokens/{prefix}/rotate/", format="json").json()
    assert acme_admin.delete(f"/api/v1/tokens/{rotated['prefix']}/").status_code == 204
    rows = _rows(acme.pk, target_type="tenants.apitoken")
    actions = [r["action"] for r in rows]
    # The fixture's own token first, then what the admin did through the API.
    assert actions[-4:] == ["token.issue", "token.issue", "token.rotate", "token.revoke"]
    issue = rows[-4]
    assert issue["actor"].startswith("token:") and issue["after"]["prefix"] == prefix
    assert rows[-2]["after"]["replaced_by"] == rotated["prefix"]
    assert rows[-1]["after"]["prefix"] == rotated["prefix"]
    stored = str(list(AuditEvent.objects.values_list("before", "after")))
    for plaintext in (issued["token"], rotated["token"]):
        assert plaintext.split("_")[-1] not in stored
    assert audit_chain_walk(tenant_id=acme.pk).problems == []


def test_membership_changes_record_old_and_new_role(acme):
    user = UserFactory(username="dana")
    membership_set(tenant=acme, user=user, role="viewer", actor="user:alice")
    membership_set(tenant=acme, user=user, role="analyst", actor="user:alice")
    membership_set(tenant=acme, user=user, role="analyst", actor="user:alice")  # no change
    rows = _rows(acme.pk, action="membership.set")
    assert [(r["before"], r["after"]["role"]) for r in rows] == [
        (None, "viewer"),
        ({"user": user.pk, "role": "viewer"}, "analyst"),
    ]
    assert {r["actor"] for r in rows} == {"user:alice"}


def test_sso_provisioning_audits_the_user_and_each_managed_membership(acme, globex):
    provider = OidcProviderConfig(
        slug="corp",
        name="Corp IdP",
        issuer="https://idp.example",
        client_id="fixops",
        client_secret="hunter2",  # noqa: S106 - a test value
        rules=[Rule(tenant="acme", role="analyst", group="dev")],
    )
    profile = SsoProfile(issuer="https://idp.example", subject="u-1", email="e@x", groups=("dev",))
    result = sso_sign_in(provider=provider, profile=profile)
    (provisioned,) = _rows(None, action="sso.provision")
    assert provisioned["target_id"] == str(result.user.pk)
    assert provisioned["actor"] == "sso:oidc:corp"
    (granted,) = _rows(acme.pk, action="membership.set")
    assert granted["after"]["role"] == "analyst" and granted["after"]["managed_by"] == "oidc:corp"
    # The group is gone at the next sign-in: the managed membership goes, audited.
    gone = SsoProfile(issuer="https://idp.example", subject="u-1", email="e@x", groups=())
    with pytest.raises(Exception, match="no group"):
        sso_sign_in(provider=provider, profile=gone)
    assert not Membership.objects.filter(user=result.user).exists()
    (removed,) = _rows(acme.pk, action="membership.delete")
    assert removed["before"]["role"] == "analyst" and removed["after"] is None
    assert "hunter2" not in str(list(AuditEvent.objects.values_list("before", "after")))


def test_second_factor_enrolment_codes_and_reset():
    user = UserFactory(username="erin")
    device = totp_pending_device(user=user)
    assert not _rows(None, target_type="auth.user")  # a pending device is no change yet
    code = f"{totp(device.bin_key):06d}"
    codes = totp_confirm(device=device, token=code)
    assert codes
    recovery_codes_regenerate(user=user)
    call_command("otp_reset", "erin")
    rows = _rows(None, target_type="auth.user", target_id=str(user.pk))
    assert [r["action"] for r in rows] == [
        "account.totp_enrol",
        "account.recovery_codes",
        "account.recovery_codes",
        "account.otp_reset",
    ]
    assert rows[-1]["actor"] == "command:otp_reset"
    assert rows[-1]["after"]["devices_removed"] == 2
    stored = str([r["after"] for r in rows])
    assert not any(c in stored for c in codes)
    assert device.key not in stored
    assert audit_chain_walk(tenant_id=None).problems == []
