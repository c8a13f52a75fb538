"""Production mode refuses to start without secrets; the deploy checks pass when they are set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from apps.evidence.keys import ED25519, generate, private_pem

ROOT = Path(__file__).resolve().parents[2]


def _run(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "FIXOPS_ENCRYPTION_KEYS", "DEBUG", "FIXOPS_ENV", "DATABASE_URL"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "fixops.settings.base", **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "FIXOPS_ENV": "production",
    "SECRET_KEY": "x" * 64 + "-production-secret-with-enough-entropy-1234567890",
    "FIXOPS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "fixops.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/fixops",
    # Evidence has no default signing key in production (apps/evidence/keys.py).
    "FIXOPS_EVIDENCE_SIGNING_KEY": private_pem(generate(ED25519)).decode(),
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIXOPS_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_a_secret(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = _run(env, "check")
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert "production mode" in result.stderr


def test_production_check_fails_without_an_evidence_signing_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "FIXOPS_EVIDENCE_SIGNING_KEY"}
    result = _run(env, "check")
    assert result.returncode != 0
    assert "evidence.E001" in result.stderr


def test_debug_off_in_development_also_requires_secrets():
    result = _run({"FIXOPS_ENV": "development", "DEBUG": "false"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_unknown_environment_name_is_refused():
    result = _run({"FIXOPS_ENV": "staging"}, "check")
    assert result.returncode != 0
    assert "FIXOPS_ENV must be 'development' or 'production'" in result.stderr


def test_deploy_check_passes_in_production_mode():
    result = _run(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_defaults_start_without_secrets(tmp_path):
    result = _run({"FIXOPS_VAR_DIR": str(tmp_path)}, "check")
    assert result.returncode == 0, result.stderr


def test_vendor_timeouts_must_stay_below_the_outbox_lease():
    """A vendor call that could outlast the outbox lease is refused at start-up."""
    result = _run({"FIXOPS_CONNECTOR_READ_TIMEOUT": "30"}, "check")
    assert result.returncode != 0
    assert "must be below FIXOPS_OUTBOX_LEASE_SECONDS (20 s)" in result.stderr
    longer_lease = {"FIXOPS_CONNECTOR_READ_TIMEOUT": "30", "FIXOPS_OUTBOX_LEASE_SECONDS": "60"}
    assert _run(longer_lease, "check").returncode == 0
