"""API token lifecycle: issue, use, expire, revoke, rotate; hashed at rest; scopes."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.tenants.models import ApiToken
from apps.tenants.services import api_token_issue, api_token_revoke
from fixops.platform.errors import DomainError

pytestmark = pytest.mark.django_db


def _me(client):
    return client.get("/api/v1/me/")


def test_issued_token_is_stored_only_as_a_hash(acme):
    issued = api_token_issue(tenant=acme, name="ci", role="analyst")
    marker, prefix, secret = issued.plaintext.split("_", 2)
    row = ApiToken.objects.get(pk=issued.token.pk)
    assert marker == "fxo" and row.prefix == prefix
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = " ".join(str(v) for v in ApiToken.objects.filter(pk=row.pk).values().first().values())
    assert secret not in stored


def test_token_authenticates_and_records_last_use(acme, issue_token, api_client):
    token = issue_token(acme, role="approver")
    response = _me(api_client(token))
    assert response.status_code == 200
    body = response.json()
    assert body["tenant"]["slug"] == "acme"
    assert body["role"] == "approver"
    assert body["auth"] == "token"
    assert body["token"]["prefix"] == token.split("_")[1]
    assert ApiToken.objects.get(prefix=token.split("_")[1]).last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(acme, issue_token, api_client):
    client = api_client(issue_token(acme))
    _me(client)
    first = ApiToken.objects.get().last_used_at
    _me(client)
    assert ApiToken.objects.get().last_used_at == first


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer fxo_nope_nope", "invalid_token"),
        ("Bearer not-a-token", "invalid_token"),
        ("Bearer", "authentication_failed"),
        ("Bearer a b", "authentication_failed"),
    ],
)
def test_bad_tokens_are_rejected_with_401(acme, header, code, api_client):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = _me(client)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_right_prefix_wrong_secret_is_rejected(acme, issue_token, api_client):
    token = issue_token(acme)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = _me(api_client(forged))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_no_credentials_is_401(db, api_client):
    response = _me(api_client())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_expired_token_is_rejected(acme, api_client):
    issued = api_token_issue(
        tenant=acme, name="short", role="viewer", expires_at=timezone.now() + timedelta(hours=1)
    )
    client = api_client(issued.plaintext)
    assert _me(client).status_code == 200
    ApiToken.objects.filter(pk=issued.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = _me(client)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


def test_cannot_issue_an_already_expired_token(acme):
    with pytest.raises(DomainError, match="future"):
        api_token_issue(
            tenant=acme, name="x", role="viewer", expires_at=timezone.now() - timedelta(days=1)
        )


def test_revoked_token_is_rejected(acme, api_client):
    issued = api_token_issue(tenant=acme, name="ci", role="analyst")
    api_token_revoke(token=issued.token)
    response = _me(api_client(issued.plaintext))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_revoked"


def test_rotation_with_two_live_tokens(acme, api_client):
    old = api_token_issue(tenant=acme, name="ci-2025", role="analyst")
    new = api_token_issue(tenant=acme, name="ci-2026", role="analyst")
    assert _me(api_client(old.plaintext)).status_code == 200
    assert _me(api_client(new.plaintext)).status_code == 200
    api_token_revoke(token=old.token)
    assert _me(api_client(old.plaintext)).status_code == 401
    assert _me(api_client(new.plaintext)).status_code == 200


def test_inactive_tenant_tokens_stop_working(acme, issue_token, api_client):
    client = api_client(issue_token(acme))
    acme.is_active = False
    acme.save()
    response = _me(client)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "tenant_inactive"


def test_scopes_narrow_a_token(acme, issue_token, api_client):
    client = api_client(issue_token(acme, role="admin", scopes=["applications:read"]))
    assert client.get("/api/v1/applications/").status_code == 200
    response = client.post("/api/v1/applications/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert _me(client).status_code == 200  # /me/ needs no scope


def test_unknown_scope_is_refused(acme):
    with pytest.raises(DomainError, match="unknown scope"):
        api_token_issue(tenant=acme, name="x", role="viewer", scopes=["everything"])


def test_tokens_api_issues_lists_and_revokes(acme, acme_admin, api_client):
    response = acme_admin.post(
        "/api/v1/tokens/", {"name": "gitlab", "role": "viewer"}, format="json"
    )
    assert response.status_code == 201
    plaintext = response.json()["token"]
    prefix = response.json()["prefix"]
    assert _me(api_client(plaintext)).json()["role"] == "viewer"
    listed = acme_admin.get("/api/v1/tokens/").json()["results"]
    assert prefix in {t["prefix"] for t in listed}
    assert all("token" not in t for t in listed)  # never shown again
    assert acme_admin.delete(f"/api/v1/tokens/{prefix}/").status_code == 204
    assert _me(api_client(plaintext)).status_code == 401


def test_tokens_api_needs_admin(acme_analyst):
    response = acme_analyst.get("/api/v1/tokens/")
    assert response.status_code == 403
    assert "admin role" in response.json()["error"]["message"]


def test_issue_token_command_prints_only_the_token(acme, api_client):
    out, err = StringIO(), StringIO()
    call_command(
        "issue_token",
        "--tenant",
        "acme",
        "--name",
        "ci",
        "--role",
        "viewer",
        "--expires-days",
        "30",
        stdout=out,
        stderr=err,
    )
    token = out.getvalue().strip()
    assert token.startswith("fxo_") and "\n" not in token
    assert _me(api_client(token)).json()["role"] == "viewer"
    row = ApiToken.objects.get(prefix=token.split("_")[1])
    assert 29 <= (row.expires_at - timezone.now()).days <= 30


def test_issue_token_command_errors(acme):
    with pytest.raises(CommandError, match="no tenant"):
        call_command("issue_token", "--tenant", "nope", "--name", "ci")
    with pytest.raises(CommandError, match="positive"):
        call_command("issue_token", "--tenant", "acme", "--name", "ci", "--expires-days", "0")


def test_revoke_token_command(acme, api_client):
    issued = api_token_issue(tenant=acme, name="ci", role="analyst")
    out = StringIO()
    call_command("revoke_token", issued.token.prefix, stdout=out)
    assert "revoked" in out.getvalue()
    assert issued.plaintext not in out.getvalue()
    assert _me(api_client(issued.plaintext)).status_code == 401
    with pytest.raises(CommandError, match="no token"):
        call_command("revoke_token", "ffffffffffff")


def test_create_tenant_command(db):
    out = StringIO()
    call_command("create_tenant", "initech", "--name", "Initech", stdout=out)
    assert "created tenant initech" in out.getvalue()
    with pytest.raises(CommandError, match="slug"):
        call_command("create_tenant", "initech")
    with pytest.raises(CommandError, match="slug"):
        call_command("create_tenant", "Bad Slug!")
