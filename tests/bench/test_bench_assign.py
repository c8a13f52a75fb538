"""Bulk assignment of 1,000 findings in a tenant of 100,000, and the `?owner=` list.

Baseline, in the same run: a plain UPDATE of the same rows' owner column by id (the database
work without locking, audit or the API). Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.pipeline.ingest import scan_submit
from apps.tenants.services import api_token_issue
from tests.bench.figures import figure
from tests.bench.generate import sarif_file
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_bulk_assign_1000(tmp_path, settings):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10**12
    settings.FIXOPS_UPLOAD_MAX_BYTES = 10**12
    settings.FIXOPS_RISK_INLINE_MAX = 0
    tenant = TenantFactory(slug="bench-assign")
    app = ApplicationFactory(tenant=tenant)
    user = UserFactory(username="bench-owner")
    MembershipFactory(user=user, tenant=tenant, role="analyst")
    n = int(os.environ.get("BENCH_ASSIGN_N", "100000"))
    path = sarif_file(tmp_path / "r.sarif", n)
    scan_submit(
        tenant=tenant, application=app, upload=SimpleUploadedFile("r.sarif", path.read_bytes())
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM findings_finding WHERE tenant_id = %s ORDER BY id", [tenant.pk]
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    client = APIClient()
    token = api_token_issue(tenant=tenant, name="bench", role="analyst").plaintext
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    batches = [ids[i : i + 1000] for i in range(0, min(len(ids), 10_000), 1000)]
    timings, queries = [], 0
    for batch in batches:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.post(
                "/api/v1/findings/bulk-assign/",
                {"ids": batch, "user": "bench-owner"},
                format="json",
            )
            timings.append(time.perf_counter() - started)
        assert response.status_code == 200 and response.json()["changed"] == len(batch)
        queries = len(captured)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE findings_finding SET owner_user_id = NULL WHERE id = ANY(%s)", [batches[0]]
        )
    baseline = time.perf_counter() - started
    timings.sort()
    p50, worst = timings[len(timings) // 2], timings[-1]
    listed = []
    for owner in ("bench-owner", "none"):
        started = time.perf_counter()
        response = client.get("/api/v1/findings/", {"owner": owner, "page_size": 100})
        listed.append(time.perf_counter() - started)
        assert response.status_code == 200 and len(response.json()["results"]) == 100
    print(  # noqa: T201
        f"\n{len(ids)} findings; bulk-assign of 1,000 over the API: p50 {p50 * 1000:.0f} ms, "
        f"max {worst * 1000:.0f} ms, {queries} queries per request "
        f"(baseline plain UPDATE of 1,000 ids: {baseline * 1000:.0f} ms); "
        f"?owner=<user> first page {listed[0] * 1000:.0f} ms, ?owner=none {listed[1] * 1000:.0f} ms"
    )
    figure("bulk_assign_1000.p50", round(p50 * 1000), "ms", better="lower")
    figure("bulk_assign_1000.queries", queries, "queries", better="lower")
    figure("owner_filter_page.user", round(listed[0] * 1000), "ms", better="lower")
