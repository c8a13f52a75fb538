"""Backups that restore: the drill (a populated instance backed up, restored into a fresh
database, then the audit chains and the evidence verify and every table's count matches) and
what a damaged, truncated or foreign backup does (nothing restored, a clear reason)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.evidence.checkpoints import audit_checkpoint
from apps.evidence.tasks import bundles_store_pending_task
from apps.findings.models import Finding
from fixops.backups import (
    MAGIC,
    BackupError,
    backup_create,
    backup_header,
    backup_restore,
    backups_prune,
    database_url,
    restored_counts,
)
from fixops.tasks import backup_task
from tests.findings.reports import many, sarif, upload

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database():
    """A new, empty database on the same server; dropped afterwards."""
    name = f"fixops_restore_{uuid.uuid4().hex[:10]}"
    server = database_url().rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def populated(acme, acme_analyst):
    """Findings from an import, a decision with its evidence stored, a signed checkpoint."""
    response = acme_analyst.post(
        "/api/v1/scans/",
        {"file": upload(sarif(many(25))), "application": "shop"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    decided = acme_analyst.post("/api/v1/decisions/", {"application": "shop"}, format="json")
    assert decided.status_code == 201, decided.content
    assert bundles_store_pending_task.apply().successful()
    assert audit_checkpoint(tenant_id=acme.pk) is not None
    return acme


def manage(url: str, *args: str) -> subprocess.CompletedProcess:
    """A management command against the database at `url`, as an operator would run it."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fixops.settings.test", "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_restore_drill(populated, empty_database, tmp_path, capsys):
    path = tmp_path / "drill.backup"
    started = time.perf_counter()
    call_command("backup", str(path))
    backed_up = time.perf_counter() - started
    assert path.read_bytes().startswith(MAGIC)
    assert b"shop" not in path.read_bytes()  # the dump is encrypted, not merely compressed

    started = time.perf_counter()
    call_command("restore", str(path), database_url=empty_database)
    restored = time.perf_counter() - started
    assert restored_counts(empty_database) == restored_counts(database_url())
    assert restored_counts(empty_database)["findings_finding"] == Finding.objects.count() == 25

    chain = manage(empty_database, "verify_audit_chain")
    assert chain.returncode == 0, chain.stdout + chain.stderr
    assert "OK" in chain.stdout
    export = tmp_path / "evidence.zip"
    exported = manage(empty_database, "export_evidence", "--tenant", "acme", "-o", str(export))
    assert exported.returncode == 0, exported.stderr
    verified = manage(empty_database, "verify_evidence", str(export))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK" in verified.stdout
    with capsys.disabled():
        print(  # noqa: T201 - the drill's figure, quoted in docs/operations.md
            f"\nrestore drill: backup {backed_up:.1f} s ({path.stat().st_size:,} bytes), "
            f"restore {restored:.1f} s, then audit chain and evidence verified"
        )


def test_a_tampered_backup_restores_nothing(populated, empty_database, tmp_path):
    path = tmp_path / "t.backup"
    backup_create(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, inside the dump
    path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="fails authentication"):
        backup_restore(path, url=empty_database)
    assert restored_counts(empty_database) == {}  # pg_restore's single transaction rolled back


def test_a_truncated_backup_restores_nothing(populated, empty_database, tmp_path):
    path = tmp_path / "t.backup"
    backup_create(path)
    data = path.read_bytes()
    header_end = backup_header(path)[2]
    cut = path.with_name("cut.backup")
    cut.write_bytes(data[: header_end + (len(data) - header_end) * 3 // 4])
    with pytest.raises(BackupError, match="truncated|authentication"):
        backup_restore(cut, url=empty_database)
    assert restored_counts(empty_database) == {}
    # Cut exactly before the end frame (13-byte frame head, 4-byte nonce prefix, 16-byte tag
    # of an empty plaintext): every frame authentic, the end missing.
    assert data[-33:-32] == b"E"
    cut.write_bytes(data[:-33])
    with pytest.raises(BackupError):
        backup_restore(cut, url=empty_database)
    assert restored_counts(empty_database) == {}


def test_another_keyring_cannot_open_a_backup(populated, empty_database, tmp_path, settings):
    path = tmp_path / "k.backup"
    made = backup_create(path)
    assert made.header["keys"]["platform"][0] in path.read_bytes().decode(errors="replace")
    settings.FIXOPS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(BackupError, match=made.header["keys"]["platform"][0]):
        backup_restore(path, url=empty_database)


def test_restore_refuses_a_database_with_tables(populated, tmp_path):
    path = tmp_path / "n.backup"
    backup_create(path)
    with pytest.raises(CommandError, match="already has"):
        call_command("restore", str(path), database_url=database_url())
    assert connection.settings_dict["NAME"]  # the live test database is untouched


def test_backups_are_never_overwritten_and_old_ones_pruned(populated, tmp_path, settings):
    settings.FIXOPS_BACKUP_DIR = str(tmp_path / "daily")
    settings.FIXOPS_BACKUP_KEEP = 2
    path = tmp_path / "once.backup"
    backup_create(path)
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("backup", str(path))
    daily = tmp_path / "daily"
    daily.mkdir()
    for stamp in ("20261201T030000Z", "20261202T030000Z", "20261203T030000Z"):
        (daily / f"fixops-{stamp}.backup").write_bytes(b"old")
    deleted = backups_prune(daily, 2)
    assert [p.name for p in deleted] == ["fixops-20261201T030000Z.backup"]
    # The beat task writes today's backup, then keeps the newest two.
    assert backup_task.apply().successful()
    kept = sorted(p.name for p in daily.iterdir())
    assert len(kept) == 2 and kept[0] == "fixops-20261203T030000Z.backup"
    assert (daily / kept[1]).read_bytes().startswith(MAGIC)
