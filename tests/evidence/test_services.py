"""Bundles: the decision statement's content, encryption at rest, key and Fernet rotation, the
production key rule, and storing after commit (pending until stored, retried, idempotent)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from apps.evidence import keys as keys_module
from apps.evidence.encryption import check_evidence_encryption
from apps.evidence.keys import ED25519, RSA_PKCS1, RSA_PSS, check_evidence_keys, dev_key_path
from apps.evidence.models import BundleStatus, EvidenceBundle, EvidenceKey
from apps.evidence.registry import evidence_key_list, evidence_key_retire
from apps.evidence.services import (
    PENDING_GRACE,
    EvidenceTampered,
    bundle_create,
    bundle_store,
    bundles_store_pending,
    evidence_envelope,
    evidence_export,
    evidence_verify,
)
from apps.evidence.storage import StorageError, get_storage
from apps.pipeline.statement import DECISION_TYPE, VSA_TYPE
from apps.policies.models import Decision, PolicyVersion, RiskAcceptance
from fixops.platform.errors import Conflict
from tests.evidence.factories import make_bundle, make_decision

pytestmark = pytest.mark.django_db


def _statement(bundle) -> dict:
    return json.loads(base64.b64decode(json.loads(evidence_envelope(bundle))["payload"]))


def test_statement_carries_inputs_vsa_and_decision(acme, evidence_settings, alice):
    acceptance = RiskAcceptance.objects.create(
        tenant=acme,
        scope="vulnerability_all",
        vuln_id="CVE-2024-0001",
        justification="compensating control",
        status="approved",
        expires_at=timezone.now() + timedelta(days=30),
        requested_label="user:bob",
        reviewed_label="user:alice",
    )
    decision = make_decision(acme, outcome="BLOCK", acceptances=[acceptance])
    bundle = make_bundle(decision)
    statement = _statement(bundle)
    scans = sorted(decision.scans.all(), key=lambda s: s.pk)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][: len(scans)] == [
        {"name": f"scan/{s.pk}/sarif", "digest": {"sha256": s.sha256}} for s in scans
    ]
    assert statement["subject"][-2]["digest"] == {"sha256": decision.policy_version.digest}
    assert statement["subject"][-1] == {
        "name": f"decision-input/{decision.pk}",
        "digest": {"sha256": decision.input_digest},
    }
    assert bundle.subjects == statement["subject"]
    assert statement["predicateType"] == VSA_TYPE
    vsa = statement["predicate"]
    assert vsa["verificationResult"] == "FAILED"
    assert vsa["verifiedLevels"] == ["FIXOPS_GATE_BLOCK"]
    assert vsa["policy"]["digest"] == {"sha256": decision.policy_version.digest}
    assert vsa["resourceUri"].endswith("@0123456789abcdef")
    assert vsa["verifier"]["id"] == evidence_settings.FIXOPS_EVIDENCE_VERIFIER_ID
    fixops = vsa[DECISION_TYPE]
    assert fixops["outcome"] == "BLOCK" and fixops["confidence"] == 0.875
    assert fixops["reasons"] == decision.reasons
    assert [f["id"] for f in fixops["drivingFindings"]] == decision.reasons[0]["finding_ids"]
    assert fixops["drivingFindings"][0]["riskComponents"]["kev"] is True
    assert fixops["drivingFindings"][0]["dedupKey"]
    assert fixops["acceptances"][0]["id"] == acceptance.pk
    assert fixops["acceptances"][0]["approvedBy"] == "user:alice"


def test_allow_passes_and_findings_are_capped(acme, evidence_settings):
    evidence_settings.FIXOPS_EVIDENCE_MAX_FINDINGS = 1
    bundle = make_bundle(make_decision(acme, outcome="ALLOW", findings=3))
    vsa = _statement(bundle)["predicate"]
    assert vsa["verificationResult"] == "PASSED"
    assert len(vsa[DECISION_TYPE]["drivingFindings"]) == 1
    assert vsa[DECISION_TYPE]["drivingFindingsTotal"] == 3


@pytest.mark.parametrize("algorithm", [ED25519, RSA_PSS, RSA_PKCS1])
def test_every_key_type_signs_bundles(acme, evidence_settings, signing_key_file, algorithm):
    path, key = signing_key_file(algorithm, name=f"{algorithm}.pem")
    evidence_settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(path)
    evidence_settings.FIXOPS_EVIDENCE_RSA_PADDING = "pkcs1v15" if algorithm == RSA_PKCS1 else "pss"
    bundle = make_bundle(make_decision(acme))
    assert (bundle.keyid, bundle.algorithm) == (key.keyid, algorithm)
    report = evidence_verify(bundle)
    assert report.valid, report


def test_signing_key_rotation_keeps_old_bundles_verifiable(
    acme, evidence_settings, signing_key_file
):
    old = make_bundle(make_decision(acme))
    path, new_key = signing_key_file(ED25519, name="new.pem")
    evidence_settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(path)
    new = make_bundle(make_decision(acme))
    assert old.keyid != new.keyid == new_key.keyid
    assert evidence_verify(old).valid and evidence_verify(new).valid
    listed = {k.keyid: k for k in evidence_key_list()}
    assert listed[new.keyid].signing and not listed[old.keyid].signing
    assert listed[old.keyid].status == "active"
    # Retire the old key after its bundle was made: that bundle still verifies...
    evidence_key_retire(keyid=old.keyid)
    assert evidence_verify(old).valid
    assert {k.keyid: k for k in evidence_key_list()}[old.keyid].status == "retired"
    # ...but a retirement before its signing time refuses it.
    evidence_key_retire(keyid=old.keyid, at=old.created_at - timedelta(seconds=10))
    report = evidence_verify(old)
    assert (report.valid, report.reason) == (False, "key_retired")
    with pytest.raises(ValueError, match="current signing key"):
        evidence_key_retire(keyid=new.keyid)
    with pytest.raises(ValueError, match="no registered key"):
        evidence_key_retire(keyid="f" * 64)


def test_configured_verification_keys_are_trusted(
    acme, evidence_settings, signing_key_file, tmp_path
):
    path, other = signing_key_file(ED25519, name="other.pem")
    public = tmp_path / "other.pub.pem"
    public.write_text(other.public.pem)
    evidence_settings.FIXOPS_EVIDENCE_VERIFICATION_KEYS = [str(public)]
    listed = {k.keyid: k for k in evidence_key_list()}
    assert listed[other.keyid].source == "configured" and not listed[other.keyid].signing
    evidence_key_retire(keyid=other.keyid)
    assert EvidenceKey.objects.get(keyid=other.keyid).retired_at is not None


def test_fernet_rotation_reencrypts_without_changing_signed_bytes(acme, evidence_settings):
    first = Fernet.generate_key().decode()
    evidence_settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS = [first]
    bundle = make_bundle(make_decision(acme))
    envelope = evidence_envelope(bundle)
    old_location = bundle.location
    second = Fernet.generate_key().decode()
    evidence_settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS = [second, first]
    call_command("rotate_evidence_keys")
    bundle.refresh_from_db()
    assert bundle.location != old_location and bundle.encryption_generation == 2
    evidence_settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS = [second]  # the old key is gone
    assert evidence_envelope(bundle) == envelope
    assert evidence_verify(bundle).valid
    # Idempotent: a second run finds nothing to do.
    call_command("rotate_evidence_keys")
    bundle.refresh_from_db()
    assert bundle.encryption_generation == 2
    # The old ciphertext stays retained (write-once) until its retention ends.
    with pytest.raises(Exception, match="retained"):
        get_storage("local").delete(old_location)


def test_tampered_storage_is_detected(acme, evidence_settings):
    bundle = make_bundle(make_decision(acme))
    path = evidence_settings.FIXOPS_EVIDENCE_DIR / bundle.location
    path.chmod(0o600)
    path.write_bytes(b"gAAAA" + path.read_bytes()[5:-3] + b"xyz")
    with pytest.raises(EvidenceTampered, match="does not decrypt"):
        evidence_envelope(bundle)
    report = evidence_verify(bundle)
    assert (report.valid, report.reason) == (False, "unreadable")


def test_a_changed_digest_record_or_input_is_detected(acme, evidence_settings):
    bundle = make_bundle(make_decision(acme))
    EvidenceBundle.objects.filter(pk=bundle.pk).update(envelope_digest="0" * 64)
    bundle.refresh_from_db()
    assert evidence_verify(bundle).reason == "digest_mismatch"
    with pytest.raises(EvidenceTampered, match="recorded digest"):
        evidence_envelope(bundle)
    other = make_bundle(make_decision(acme))
    other.decision.scans.first().__class__.objects.filter(
        pk=other.decision.scans.first().pk
    ).update(sha256="f" * 64)
    report = evidence_verify(EvidenceBundle.objects.get(pk=other.pk))
    assert (report.reason, report.checks["subjects"]) == ("digest_mismatch", "failed")
    EvidenceBundle.objects.filter(pk=other.pk).update(payload_digest="1" * 64)
    assert (
        evidence_verify(EvidenceBundle.objects.get(pk=other.pk)).checks["payload_digest"]
        == "failed"
    )


@pytest.mark.parametrize("edit", ["input", "policy source"])
def test_an_edited_input_document_or_policy_source_is_detected(acme, evidence_settings, edit):
    """Verification recomputes the input and policy digests from the rows, so editing the
    stored JSON or Rego in the database (digest columns untouched) fails it."""

    bundle = make_bundle(make_decision(acme))
    assert evidence_verify(bundle).valid
    decision = bundle.decision
    if edit == "input":
        Decision.objects.filter(pk=decision.pk).update(input={**decision.input, "findings": []})
    else:
        PolicyVersion.objects.filter(pk=decision.policy_version_id).update(source="package x\n")
    report = evidence_verify(EvidenceBundle.objects.get(pk=bundle.pk))
    assert (report.valid, report.checks["subjects"]) == (False, "failed")


def test_a_store_that_is_down_leaves_the_bundle_pending_until_a_retry(acme, evidence_settings):
    """Recording never touches the store; storing fails cleanly and a later run completes it
    from the encrypted envelope kept on the row."""
    evidence_settings.FIXOPS_EVIDENCE_STORAGE = "floppy"
    bundle = make_bundle(make_decision(acme), store=False)
    with pytest.raises(StorageError):
        bundle_store(bundle_id=bundle.pk)
    bundle.refresh_from_db()
    assert bundle.status == BundleStatus.PENDING and bundle.pending_token
    report = evidence_verify(bundle)
    assert (report.valid, report.reason, report.checks) == (False, "pending", {"stored": "pending"})
    with pytest.raises(Conflict) as refused:
        evidence_envelope(bundle)
    assert refused.value.code == "evidence_pending"
    EvidenceBundle.objects.filter(pk=bundle.pk).update(backend="local")
    assert bundles_store_pending() == 0  # younger than the grace period: its own task's job
    EvidenceBundle.objects.filter(pk=bundle.pk).update(
        created_at=timezone.now() - PENDING_GRACE - timedelta(seconds=1)
    )
    assert bundles_store_pending() == 1
    bundle.refresh_from_db()
    assert (bundle.status, bundle.pending_token) == (BundleStatus.STORED, None)
    assert evidence_verify(bundle).valid
    assert bundle_store(bundle_id=bundle.pk) is False  # a second run does nothing


def test_a_store_interrupted_after_the_write_is_adopted_on_retry(acme, evidence_settings):
    """The object was written but the row not updated (a crash between the two): the retry
    finds the same bytes under the bundle's key and adopts them instead of failing."""
    bundle = make_bundle(make_decision(acme), store=False)
    get_storage("local").put(
        bundle.location,
        bytes(bundle.pending_token),
        retain_until=bundle.retention_until,
        mode=bundle.lock_mode,
    )
    assert bundle_store(bundle_id=bundle.pk)
    assert evidence_verify(EvidenceBundle.objects.get(pk=bundle.pk)).valid


def test_no_default_key_in_production(evidence_settings):
    evidence_settings.FIXOPS_EVIDENCE_SIGNING_KEY = ""
    evidence_settings.SECRETS_REQUIRED = True
    assert [e.id for e in check_evidence_keys(None)] == ["evidence.E001"]
    with pytest.raises(ImproperlyConfigured, match="FIXOPS_EVIDENCE_SIGNING_KEY"):
        keys_module.signer()


def test_bad_key_settings_fail_the_check(evidence_settings, tmp_path):
    evidence_settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(tmp_path / "missing.pem")
    evidence_settings.FIXOPS_EVIDENCE_VERIFICATION_KEYS = ["-----BEGIN PUBLIC KEY-----\\nxx"]
    assert [e.id for e in check_evidence_keys(None)] == ["evidence.E002", "evidence.E004"]
    evidence_settings.FIXOPS_EVIDENCE_RSA_PADDING = "none"
    assert "evidence.E003" in [e.id for e in check_evidence_keys(None)]

    evidence_settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS = ["short"]
    assert [e.id for e in check_evidence_encryption(None)] == ["evidence.E005"]


def test_development_generates_and_reuses_a_logged_key(settings, tmp_path, caplog):
    settings.VAR_DIR = tmp_path
    settings.FIXOPS_EVIDENCE_SIGNING_KEY = ""
    settings.SECRETS_REQUIRED = False
    keys_module._configured_signer.cache_clear()
    first = keys_module.signer()
    assert dev_key_path().exists() and oct(dev_key_path().stat().st_mode)[-3:] == "600"
    assert "DEVELOPMENT key" in caplog.text
    keys_module._configured_signer.cache_clear()
    assert keys_module.signer().keyid == first.keyid
    keys_module._configured_signer.cache_clear()


def test_any_statement_is_signed_stored_verified_and_exported(acme, evidence_settings, tmp_path):
    """Evidence signs what it is given: a statement that proves no decision round-trips too."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "release/1.2.3", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://example.com/release/v1",
        "predicate": {"approvedBy": "user:alice"},
    }
    bundle = bundle_create(tenant=acme, statement=statement, name="release-1.2.3")
    assert bundle.decision_id is None and bundle.status == BundleStatus.PENDING
    assert bundle_store(bundle_id=bundle.pk)
    bundle = EvidenceBundle.objects.get(pk=bundle.pk)
    assert _statement(bundle) == statement
    assert evidence_verify(bundle).valid
    EvidenceBundle.objects.filter(pk=bundle.pk).update(subjects=[])
    assert not evidence_verify(EvidenceBundle.objects.get(pk=bundle.pk)).valid
    archive = tmp_path / "export.zip"
    archive.write_bytes(evidence_export(tenant=acme, since=None, until=None))
    call_command("verify_evidence", str(archive))
