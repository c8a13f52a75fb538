"""Cost of the API's per-request machinery (token auth, tenant resolution, error format).

Baseline: the same token lookup as a bare SELECT by prefix, measured in the same run.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.tenants.services import api_token_issue
from tests.bench.figures import figure
from tests.tenants.factories import TenantFactory

N = 500


@pytest.mark.django_db
def test_bench_authenticated_request_vs_bare_lookup():
    tenant = TenantFactory(slug="bench")
    issued = api_token_issue(tenant=tenant, name="bench", role="viewer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    client.get("/api/v1/me/")  # warm up

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for _ in range(N):
            cursor.execute(
                "SELECT t.id, t.secret_hash, tn.is_active FROM tenants_apitoken t "
                "JOIN tenants_tenant tn ON tn.id = t.tenant_id WHERE t.prefix = %s",
                [issued.token.prefix],
            )
            cursor.fetchone()
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(N):
        assert client.get("/api/v1/me/").status_code == 200
    measured = time.perf_counter() - started

    print(
        f"\nAPI auth: {N / measured:,.0f} GET /api/v1/me/ per s "
        f"({measured / N * 1000:.2f} ms each); bare token SELECT baseline "
        f"{N / baseline:,.0f} per s ({baseline / N * 1000:.3f} ms); "
        f"ratio {measured / baseline:.1f}x"
    )
    figure("api_auth.request", measured / N * 1000, "ms", better="lower")
    figure("api_auth.select_baseline", baseline / N * 1000, "ms", better="lower")
    figure("api_auth.ratio", measured / baseline, "x", better="lower")
