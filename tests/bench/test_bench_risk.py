"""Re-scoring 100,000 open findings after a feed refresh (issue 4 target: under 30 s).

Baseline, in the same run: an UPDATE of the same rows' risk columns from a COPY-filled
temporary table with constant values (the database work without the model).
"""

from __future__ import annotations

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.intel.scoring import risk_refresh
from apps.pipeline.ingest import scan_submit
from tests.bench.figures import figure
from tests.bench.generate import cyclonedx_file
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_rescore_100k(tmp_path, settings):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10**12
    settings.FIXOPS_UPLOAD_MAX_BYTES = 10**12
    settings.FIXOPS_RISK_INLINE_MAX = 0  # import without scoring; scoring is measured below
    tenant = TenantFactory(slug="bench-risk")
    app = ApplicationFactory(tenant=tenant, internet_exposed=True)
    path = cyclonedx_file(
        tmp_path / "bom.json", 5_000, int(os.environ.get("BENCH_RISK_N", "100000"))
    )
    upload = SimpleUploadedFile("bom.json", path.read_bytes())
    scan, _ = scan_submit(tenant=tenant, application=app, upload=upload)
    n = scan.counts["findings_new"]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO intel_vulnerability (vuln_id, summary, cvss_v3_vector, cvss_v4_vector, "
            "epss_score, epss_model_version, kev, kev_required_action, kev_vendor, kev_product, "
            "kev_name, kev_cwes, kev_notes, exploit_public, updated_at, epss_percentile) "
            "SELECT DISTINCT vuln_id, '', '', '', random(), 'v4', random() < 0.01, '', '', '', "
            "'', '[]'::jsonb, '', false, now(), random() "
            "FROM findings_finding WHERE application_id = %s",
            [app.pk],
        )

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM findings_finding WHERE application_id = %s", [app.pk])
        ids = [pk for (pk,) in cursor.fetchall()]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_risk AS SELECT id, risk_score, ssvc "
            "FROM findings_finding WITH NO DATA"
        )
        with cursor.copy("COPY bench_risk (id, risk_score, ssvc) FROM STDIN") as copy:
            for pk in ids:
                copy.write_row((pk, 50.0, "Track"))
        cursor.execute(
            "UPDATE findings_finding f SET risk_score = b.risk_score, ssvc = b.ssvc "
            "FROM bench_risk b WHERE f.id = b.id"
        )
        cursor.execute("DROP TABLE bench_risk")
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        written = risk_refresh(application_id=app.pk)
    seconds = time.perf_counter() - started
    print(
        f"\nRe-scoring {written:,} findings: {seconds:.2f} s ({written / seconds:,.0f}/s), "
        f"{len(queries.captured_queries)} SQL statements; bare COPY+UPDATE baseline "
        f"{baseline:.2f} s; ratio {seconds / baseline:.1f}x"
    )
    figure("risk.rescore", written / seconds, "findings/s", better="higher")
    figure("risk.rescore_sql", len(queries.captured_queries), "statements", better="lower")
    figure("risk.copy_update_baseline", baseline, "s", better="lower")
    figure("risk.ratio", seconds / baseline, "x", better="lower")
    assert written == n
