"""The fan-out on real Celery workers, on the embedded broker `make run` uses (kombu's
filesystem transport, no result backend): three worker processes, one provider each, asked at
the same time. The fakes hold every request until all three have arrived (a barrier), so the
advice can only complete if the three providers really were asked in parallel."""

from __future__ import annotations

import threading
import uuid

import pytest

from apps.advisory.advising import advice_request
from apps.advisory.models import Advice
from fixops.celery import app
from tests.advisory.advice_support import enable
from tests.connectors.workers import Worker, reset_celery_pools, wait_until
from tests.findings.factories import FindingFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _reset_pools() -> None:
    reset_celery_pools(app)


@pytest.fixture
def filesystem_broker(tmp_path):
    """Point our Celery app at a private filesystem broker (folders under tmp_path) and a
    queue of its own; the workers get the same through FIXOPS_VAR_DIR and -Q."""
    queue = f"fixops-advice-test-{uuid.uuid4().hex[:8]}"
    folders = tmp_path / "var" / "celery"
    for name in ("queue", "control", "processed"):
        (folders / name).mkdir(parents=True)
    saved = (app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_default_queue)
    _reset_pools()
    app.conf.broker_url = "filesystem://"
    app.conf.broker_transport_options = {
        "data_folder_in": str(folders / "queue"),
        "data_folder_out": str(folders / "queue"),
        "control_folder": str(folders / "control"),
        "processed_folder": str(folders / "processed"),
        "store_processed": False,
    }
    app.conf.task_default_queue = queue
    try:
        yield queue, tmp_path / "var"
    finally:
        app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_default_queue = saved
        _reset_pools()


def test_three_providers_are_asked_in_parallel_by_real_workers(
    acme, alice, three_fakes, make_provider, filesystem_broker, tmp_path
):
    queue, var = filesystem_broker
    barrier = threading.Barrier(len(three_fakes), timeout=60)
    for fake in three_fakes:
        original = fake.dispatch

        def held(req, original=original):
            barrier.wait()  # answers only once every provider has been asked
            return original(req)

        fake.dispatch = held
    finding = FindingFactory(tenant=acme)
    enable(acme, alice, three_fakes, make_provider, timeout=90)
    workers = [
        Worker(
            queue=queue,
            broker="filesystem://",
            log=tmp_path / f"worker-{i}.log",
            env={"FIXOPS_VAR_DIR": str(var)},
            pool="solo",
        )
        for i in range(len(three_fakes))
    ]
    try:
        for worker in workers:
            worker.start(timeout=120)
        advice = advice_request(tenant=acme, task="triage", finding=finding, actor="test")
        done = wait_until(
            lambda: Advice.objects.get(pk=advice.pk).finished, timeout=120, interval=0.5
        )
        logs = "\n".join(w.output()[-2000:] for w in workers)
        assert done, logs
    finally:
        for worker in workers:
            worker.kill()
    advice.refresh_from_db()
    assert not barrier.broken
    assert {a.status for a in advice.answers.all()} == {"ok"}, logs
    assert advice.result == "consensus"
    assert [len(f.requests) for f in three_fakes] == [1, 1, 1]
