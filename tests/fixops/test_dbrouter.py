"""The read replica's routing (fixops/platform/dbrouter.py): which alias each read takes.

No query runs on a replica here (the test database has none): `QuerySet.db` is the alias the
router picks for a read, without running it. tests/ops/test_read_replica.py reads a real
streaming replica.
"""

from __future__ import annotations

import pytest
from django.db import router, transaction

from apps.findings.models import Finding
from apps.tenants.models import Tenant
from apps.workspace import selectors
from apps.workspace.analytics import snapshot
from fixops.platform import dbrouter
from fixops.platform.dbrouter import replica_reads, unit_of_work


@pytest.fixture
def replica(settings):
    settings.FIXOPS_READ_REPLICA = True
    dbrouter.start_unit_of_work()
    yield
    dbrouter.start_unit_of_work()


def test_without_a_replica_every_read_is_on_the_primary(settings):
    settings.FIXOPS_READ_REPLICA = False
    with replica_reads():
        assert Finding.objects.all().db == "default"
    assert "replica" not in settings.DATABASES


def test_only_replica_safe_reads_go_to_the_replica(replica):
    assert Finding.objects.all().db == "default"  # not marked
    with replica_reads():
        assert Finding.objects.all().db == "replica"
    assert Finding.objects.all().db == "default"
    assert router.db_for_write(Finding) == "default"


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_reads_stay_on_the_primary(replica):
    with replica_reads():
        with transaction.atomic():
            assert Finding.objects.all().db == "default"
        assert Finding.objects.all().db == "replica"


@pytest.mark.django_db(transaction=True)
def test_a_write_pins_the_rest_of_its_unit_of_work_to_the_primary(replica):
    with replica_reads():
        assert Finding.objects.all().db == "replica"
    Tenant.objects.create(slug="pinned", name="Pinned")  # autocommit, outside any atomic
    with replica_reads():
        assert Finding.objects.all().db == "default", "read right after a write"
        with unit_of_work():
            assert Finding.objects.all().db == "replica"  # a unit of its own
    dbrouter.start_unit_of_work()  # the next request or task
    with replica_reads():
        assert Finding.objects.all().db == "replica"


@pytest.mark.django_db(transaction=True)
def test_a_request_that_wrote_is_pinned_and_the_next_one_is_not(replica, client):
    seen = []

    def view(request):
        with replica_reads():
            seen.append(Finding.objects.all().db)
        Tenant.objects.create(slug=f"t{len(seen)}", name="T")
        with replica_reads():
            seen.append(Finding.objects.all().db)
        return None

    middleware = dbrouter.UnitOfWorkMiddleware(view)
    middleware(object())
    middleware(object())
    assert seen == ["replica", "default", "replica", "default"]


def test_replica_reads_never_migrate():
    assert router.allow_migrate("replica", "findings") is False
    assert router.allow_migrate("default", "findings") is True


def test_the_analytics_and_dashboard_selectors_are_marked_replica_safe():
    marked = [
        selectors.analytics_summary,  # the dashboard and GET /api/v1/analytics/summary
        selectors.analytics_trends,
        selectors.analytics_sla,
        snapshot.compute,  # the aggregates of the beat's refresh
    ]
    assert all(getattr(f, "replica_safe", False) for f in marked)
    assert not getattr(snapshot.refresh, "replica_safe", False)  # it writes
    assert not getattr(selectors.dashboard_tenant_get, "replica_safe", False)


@pytest.mark.django_db(transaction=True)
def test_the_analytics_refresh_reads_every_tenant_on_the_replica(replica, monkeypatch):
    """Every read of compute() — ORM and the raw MTTR query — is routed to the replica, for
    every tenant, though the refresh writes a snapshot between tenants. The spy answers
    "default" so the queries still run on the test database."""
    from apps.workspace.services import analytics_refresh

    for slug in ("one", "two"):
        Tenant.objects.create(slug=slug, name=slug)
    routed: list[str] = []
    original = dbrouter.read_alias

    def spy() -> str:
        alias = original()
        routed.append(alias)
        return "default"

    monkeypatch.setattr(dbrouter, "read_alias", spy)
    monkeypatch.setattr("apps.workspace.analytics.flow.read_alias", spy)
    monkeypatch.setattr(dbrouter.ReplicaRouter, "db_for_read", lambda self, model, **h: spy())
    dbrouter.start_unit_of_work()
    snapshot_reads: list[str] = []
    real_compute = snapshot.compute.__wrapped__

    def compute(tenant, *, now):
        before = len(routed)
        result = real_compute(tenant, now=now)
        snapshot_reads.extend(routed[before:])
        return result

    monkeypatch.setattr(snapshot, "compute", dbrouter.replica_safe(compute))
    assert analytics_refresh() == 2
    assert snapshot_reads and set(snapshot_reads) == {"replica"}, snapshot_reads
