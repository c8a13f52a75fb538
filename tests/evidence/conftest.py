"""Evidence fixtures: a fresh signing key and a private evidence directory per test."""

from __future__ import annotations

import uuid

import pytest

from apps.evidence.keys import ED25519, generate, private_pem
from apps.evidence.storage import get_storage
from tests.fakes.storage_servers import start_azurite, start_moto


@pytest.fixture
def signing_key_file(tmp_path):
    """write(algorithm) -> (path, SigningKey): a PEM private key file."""

    def write(algorithm: str = ED25519, name: str = "signing.pem"):
        key = generate(algorithm)
        path = tmp_path / name
        path.write_bytes(private_pem(key))
        return path, key

    return write


@pytest.fixture
def evidence_settings(settings, tmp_path, signing_key_file):
    """Ed25519 signing, local storage under tmp_path."""
    path, key = signing_key_file()
    settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(path)
    settings.FIXOPS_EVIDENCE_RSA_PADDING = "pss"
    settings.FIXOPS_EVIDENCE_STORAGE = "local"
    settings.FIXOPS_EVIDENCE_DIR = tmp_path / "evidence"
    settings.signing_key = key
    return settings


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto S3 server on 127.0.0.1 for the whole session."""
    server, url = start_moto()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def azurite_connection():
    """An Azurite blob server on 127.0.0.1 for the whole session."""
    server, connection = start_azurite()
    yield connection
    server.stop()


@pytest.fixture
def s3_settings(evidence_settings, moto_endpoint, monkeypatch):
    """Evidence on S3 with Object Lock (a fresh bucket per test)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    evidence_settings.FIXOPS_EVIDENCE_STORAGE = "s3"
    evidence_settings.FIXOPS_EVIDENCE_S3_BUCKET = f"fixops-evidence-{uuid.uuid4().hex[:12]}"
    evidence_settings.FIXOPS_EVIDENCE_S3_ENDPOINT_URL = moto_endpoint
    evidence_settings.FIXOPS_EVIDENCE_S3_REGION = "us-east-1"
    get_storage("s3").prepare()
    return evidence_settings


@pytest.fixture
def azure_settings(evidence_settings, azurite_connection):
    """Evidence on Azure Blob (Azurite; a fresh container per test)."""
    evidence_settings.FIXOPS_EVIDENCE_STORAGE = "azure"
    evidence_settings.FIXOPS_EVIDENCE_AZURE_CONNECTION_STRING = azurite_connection
    evidence_settings.FIXOPS_EVIDENCE_AZURE_CONTAINER = f"evidence-{uuid.uuid4().hex[:12]}"
    get_storage("azure").prepare()
    return evidence_settings
