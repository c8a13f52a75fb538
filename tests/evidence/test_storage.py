"""Every backend: round trip through and retention blocks deletion and
overwrite. S3 runs against moto in server mode, Azure against Azurite (see
tests/fakes/storage_servers.py for what each server itself enforces)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from azure.core.exceptions import ResourceExistsError
from botocore.exceptions import ClientError
from django.conf import settings as django_settings
from django.utils import timezone

from apps.evidence.models import EvidenceSettings
from apps.evidence.services import evidence_envelope, evidence_verify
from apps.evidence.storage import RetentionError, StorageError, get_storage
from apps.evidence.storage.azure import AzureStorage
from apps.evidence.storage.local import LocalStorage
from apps.evidence.storage.s3 import S3Storage
from tests.evidence.factories import make_bundle, make_decision

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["local", "s3", "azure"])
def backend(request):
    fixture = {"local": "evidence_settings", "s3": "s3_settings", "azure": "azure_settings"}
    request.getfixturevalue(fixture[request.param])
    return request.param


def test_round_trip_and_retention_on_every_backend(acme, backend):
    decision = make_decision(acme)
    bundle = make_bundle(decision)
    assert bundle.backend == backend
    assert evidence_verify(bundle).valid
    envelope = evidence_envelope(bundle)
    assert envelope == evidence_envelope(bundle)  # bytes-identical on every read
    storage = get_storage(backend)
    stored = storage.get(bundle.location)
    assert b"payload" not in stored and len(stored) == bundle.stored_bytes  # encrypted at rest
    assert storage.retained_until(bundle.location) > timezone.now() + timedelta(days=300)
    with pytest.raises(RetentionError, match="retained until"):
        storage.delete(bundle.location)
    key = _key_of(backend, bundle.location)
    with pytest.raises(RetentionError, match="write-once"):
        storage.put(
            key, b"forged", retain_until=timezone.now() + timedelta(days=1), mode="compliance"
        )
    assert storage.get(bundle.location) == stored
    assert evidence_verify(bundle).valid


def _key_of(backend: str, location: str) -> str:
    if backend == "local":
        return location
    if backend == "s3":
        bucket = django_settings.FIXOPS_EVIDENCE_S3_BUCKET
        prefix = django_settings.FIXOPS_EVIDENCE_S3_PREFIX
        return location.split(f"s3://{bucket}/{prefix}")[1].split("?", maxsplit=1)[0]
    return location.split("/", 3)[3]


def test_an_expired_retention_allows_deletion(acme, backend):
    storage = get_storage(backend)
    soon = timezone.now() + timedelta(seconds=2)
    location = storage.put("t0/expiring.bin", b"x", retain_until=soon, mode="governance")
    with pytest.raises(RetentionError):
        storage.delete(location)

    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 0.5)
    storage.delete(location)
    with pytest.raises(StorageError):
        storage.get(location)


def test_moto_itself_refuses_to_delete_a_locked_version(acme, s3_settings):
    """Not only FixOps' check: the S3 server refuses, in both modes, unless governance is
    bypassed (which FixOps never does)."""
    bundle = make_bundle(make_decision(acme))
    storage = get_storage("s3")
    name, version = storage._parse(bundle.location)
    with pytest.raises(ClientError, match="AccessDenied"):
        storage.client.delete_object(Bucket=storage.bucket, Key=name, VersionId=version)
    with pytest.raises(ClientError, match="AccessDenied"):
        storage.client.delete_object(
            Bucket=storage.bucket, Key=name, VersionId=version, BypassGovernanceRetention=True
        )
    head = storage.client.head_object(Bucket=storage.bucket, Key=name, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError, match="PreconditionFailed"):
        storage.client.put_object(Bucket=storage.bucket, Key=name, Body=b"x", IfNoneMatch="*")
    # A plain DELETE only adds a delete marker; the locked version stays readable.
    storage.client.delete_object(Bucket=storage.bucket, Key=name)
    assert evidence_verify(bundle).valid


def test_governance_mode_per_tenant(acme, s3_settings):
    EvidenceSettings.objects.create(tenant=acme, retention_days=30, lock_mode="governance")
    bundle = make_bundle(make_decision(acme))
    assert bundle.lock_mode == "governance"
    assert bundle.retention_until < timezone.now() + timedelta(days=31)
    storage = get_storage("s3")
    name, version = storage._parse(bundle.location)
    head = storage.client.head_object(Bucket=storage.bucket, Key=name, VersionId=version)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        storage.client.delete_object(Bucket=storage.bucket, Key=name, VersionId=version)


def test_azurite_enforces_no_overwrite_but_not_immutability(acme, azure_settings):
    """What Azurite enforces itself: If-None-Match (no overwrite). It ignores immutability
    policies, so the FixOps delete refusal (from the blob's retention metadata) is the only
    guard there; real Azure refuses server-side as well."""
    bundle = make_bundle(make_decision(acme))
    storage = get_storage("azure")
    blob = storage._blob(bundle.location)
    with pytest.raises(ResourceExistsError):
        blob.upload_blob(b"forged", overwrite=False)
    with pytest.raises(RetentionError):
        storage.delete(bundle.location)
    assert evidence_verify(bundle).valid


def test_storage_errors_are_clear(tmp_path, evidence_settings, moto_endpoint, monkeypatch):
    local = LocalStorage(tmp_path)
    with pytest.raises(StorageError, match="outside"):
        local.get("../escape")
    with pytest.raises(StorageError, match="missing"):
        local.get("nothing-here")
    assert local.retained_until("nothing-here") is None
    with pytest.raises(StorageError, match="BUCKET"):
        S3Storage(bucket="")
    with pytest.raises(StorageError, match="CONNECTION_STRING"):
        AzureStorage(connection_string="", container="x")
    with pytest.raises(StorageError, match="unknown evidence storage"):
        get_storage("floppy")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = S3Storage(bucket="no-such-bucket-here", endpoint_url=moto_endpoint, region="us-east-1")
    with pytest.raises(StorageError, match="refused to store"):
        s3.put("k", b"x", retain_until=timezone.now() + timedelta(days=1), mode="compliance")
    with pytest.raises(StorageError, match="not an object version"):
        s3.get("s3://other/k")
    with pytest.raises(StorageError, match="cannot read"):
        s3.get("s3://no-such-bucket-here/k?versionId=1")
