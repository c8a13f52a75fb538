"""No orphaned write-once objects, no lost bundles: the gate records its evidence bundle
pending in the decision's transaction and stores the object only after COMMIT.

- A failure after the bundle row is written and before COMMIT (an exception in the flow, or
  COMMIT itself refusing) leaves no row and no stored object.
- A gate process SIGKILLed after COMMIT and before the store write leaves a pending bundle,
  which the retry task, run by a real Celery worker on Redis, stores within 60 s; the stored
  bundle then passes `verify_evidence`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import IntegrityError, connection

from apps.evidence.models import BundleStatus, EvidenceBundle
from apps.evidence.services import bundles_store_pending, evidence_export, evidence_verify
from apps.pipeline import gate
from apps.pipeline.gate import decision_make
from apps.policies.models import Decision
from tests.connectors.workers import ROOT, wait_until
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _objects(directory) -> list:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def _fail_in_the_flow(monkeypatch) -> type[Exception]:
    def announce(decision):
        raise RuntimeError("the outbox could not be written")

    monkeypatch.setattr(gate, "decision_announce", announce)
    return RuntimeError


def _fail_at_commit(monkeypatch) -> type[Exception]:
    """A row whose (deferred) foreign key points nowhere: PostgreSQL refuses the COMMIT."""

    def announce(decision):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO evidence_evidencesettings (tenant_id, retention_days, lock_mode, "
                "updated_at) VALUES (%s, 1, 'compliance', now())",
                [2**62],
            )

    monkeypatch.setattr(gate, "decision_announce", announce)
    return IntegrityError


@pytest.mark.parametrize("failure", [_fail_in_the_flow, _fail_at_commit])
def test_a_failure_before_commit_leaves_no_object_and_no_row(
    acme, evidence_settings, monkeypatch, failure
):
    application = ApplicationFactory(tenant=acme)
    recorded = []
    create = gate.bundle_create

    def bundle_create(**kwargs):
        bundle = create(**kwargs)
        recorded.append(EvidenceBundle.objects.filter(pk=bundle.pk).exists())
        return bundle

    monkeypatch.setattr(gate, "bundle_create", bundle_create)
    error = failure(monkeypatch)
    with pytest.raises(error):
        decision_make(tenant=acme, application=application, commit="doomed")
    assert recorded == [True], "the bundle row was written inside the transaction"
    assert not EvidenceBundle.objects.exists()
    assert not Decision.objects.filter(commit="doomed").exists()
    assert bundles_store_pending() == 0
    assert _objects(evidence_settings.FIXOPS_EVIDENCE_DIR) == []


GATE = textwrap.dedent(
    """
    import os, signal, sys

    import django

    django.setup()

    from apps.findings.models import Application
    from apps.pipeline import gate


    class DieBeforeTheStoreWrite:
        # Runs on_commit, i.e. after COMMIT returned, where the store task would be queued.
        def delay(self, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)


    gate.bundle_store_task = DieBeforeTheStoreWrite()
    application = Application.objects.get(pk=int(sys.argv[1]))
    gate.decision_make(tenant=application.tenant, application=application, commit="killed")
    print("the gate survived its own SIGKILL")
    """
)


@pytest.mark.slow
@pytest.mark.services
def test_sigkill_after_commit_is_completed_by_the_retry_task(
    acme, broker, signing_key_file, settings, tmp_path
):
    key_path, _ = signing_key_file()
    settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(key_path)
    application = ApplicationFactory(tenant=acme)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "FIXOPS_EVIDENCE_SIGNING_KEY": str(key_path),
    }
    process = subprocess.run(
        [sys.executable, "-c", GATE, str(application.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-3000:]

    decision = Decision.objects.get(commit="killed")  # committed
    bundle = EvidenceBundle.objects.get(decision=decision)
    assert bundle.status == BundleStatus.PENDING and bundle.pending_token
    evidence_dir = django_settings.FIXOPS_EVIDENCE_DIR
    assert not (evidence_dir / bundle.location).exists(), "nothing was stored before the kill"

    worker = broker.worker(tmp_path, "evidence", FIXOPS_EVIDENCE_SIGNING_KEY=key_path).start()
    started = time.monotonic()
    try:
        stored = wait_until(
            lambda: EvidenceBundle.objects.filter(pk=bundle.pk, status="stored").exists(),
            60,
            interval=1,
            tick=lambda: broker.app.send_task("fixops.evidence.store_pending", queue=broker.queue),
        )
    finally:
        worker.stop()
    assert stored, worker.output()[-3000:]
    assert time.monotonic() - started < 60

    bundle.refresh_from_db()
    assert bundle.pending_token is None and (evidence_dir / bundle.location).is_file()
    assert evidence_verify(bundle).valid
    export = tmp_path / "evidence.zip"
    export.write_bytes(evidence_export(tenant=acme, since=None, until=None))
    call_command("verify_evidence", str(export))
