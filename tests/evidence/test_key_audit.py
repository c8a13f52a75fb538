"""Key rotation is audited: a new signing key's registration and a key's retirement on the
global chain, each re-encrypted bundle on its tenant's chain (never a key's material)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from fixops.platform.audit import audit_chain_walk
from fixops.platform.models import AuditEvent
from tests.evidence.factories import make_bundle, make_decision

pytestmark = pytest.mark.django_db


def test_registration_retirement_and_reencryption_are_audited(acme, evidence_settings, tmp_path):
    first = Fernet.generate_key().decode()
    evidence_settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS = [first]
    bundle = make_bundle(make_decision(acme))
    (registered,) = AuditEvent.objects.filter(tenant_id=None, action="evidence.key_register")
    assert registered.target_id == bundle.keyid
    second = Fernet.generate_key().decode()
    evidence_settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS = [second, first]
    call_command("rotate_evidence_keys")
    (rotated,) = AuditEvent.objects.filter(tenant_id=acme.pk, action="evidence.reencrypt")
    assert rotated.target_id == str(bundle.pk) and rotated.after["generation"] == 2
    target = tmp_path / "next.pem"
    call_command("rotate_evidence_keys", "--generate-signing-key", str(target))
    evidence_settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(target)
    call_command(
        "rotate_evidence_keys", "--retire-key", bundle.keyid, "--at", "2999-01-01T00:00:00+00:00"
    )
    (retired,) = AuditEvent.objects.filter(tenant_id=None, action="evidence.key_retire")
    assert retired.actor == "command:rotate_evidence_keys"
    assert retired.before == {"retired_at": None}
    stored = str(list(AuditEvent.objects.values_list("before", "after")))
    assert first not in stored and second not in stored
    assert audit_chain_walk(tenant_id=None).problems == []
    assert audit_chain_walk(tenant_id=acme.pk).problems == []
