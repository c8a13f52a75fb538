"""Pages and endpoints at scale: one tenant with FIXOPS_BENCH_FINDINGS findings (1,000,000 by
default) among FIXOPS_BENCH_TENANTS tenants (`manage.py generate_dataset`, docs/operations.md).

The dataset is generated once (its time is a figure) and reused when the database already
holds it (same big-tenant size): keep the test database between runs to measure again in
seconds, e.g.

    FIXOPS_TEST_DB=test_fixops_scale .venv/bin/python -m pytest tests/bench/test_bench_scale.py \
        -p no:randomly -s -q -o addopts="" --reuse-db

Each URL is rendered twice to warm up (the second counting its queries), then 20 times; p50
and p95 are printed beside a baseline measured the same way in the same run (a page of the
same client that reads no findings: the framework's own cost on this machine right now) and
beside the target (API p95 < 200 ms, admin pages < 1 s). Figures are printed, not asserted;
every URL must answer 200, or the figure would measure an error page. Add a page: append to
PAGES. Without --reuse-db (as in `make bench`) the test database, dataset included, is
dropped at the end of the session.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from apps.findings.models import Application, Finding
from apps.policies.models import Decision
from apps.tenants.models import Tenant
from apps.tenants.services import api_token_issue
from fixops.management.dataset.build import Spec, dataset_generate, dataset_size
from tests.bench.figures import figure
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

FINDINGS = int(os.environ.get("FIXOPS_BENCH_FINDINGS", "1000000"))
TENANTS = int(os.environ.get("FIXOPS_BENCH_TENANTS", "100"))
APPLICATIONS = int(os.environ.get("FIXOPS_BENCH_APPLICATIONS", "10000"))
# Set to generate again even when the database holds a dataset of this size.
REGENERATE = os.environ.get("FIXOPS_BENCH_REGENERATE") == "1"
RENDERS = 20
SLUG = "bench-1m"
API_TARGET_MS = 200
ADMIN_TARGET_MS = 1000


@dataclass(frozen=True)
class Page:
    """One URL to measure; `{finding}`, `{application}`, `{decision}`, `{cve}` and `{user}`
    are filled from the dataset."""

    name: str
    url: str

    @property
    def api(self) -> bool:
        return self.url.startswith("/api/")


ADMIN = "/admin/findings/finding/"
PAGES = [
    Page("admin_index", "/admin/"),
    Page("admin_findings", ADMIN),
    # The triage list's own parameters (apps/workspace/admin/filters.py).
    Page("admin_findings_critical_open", f"{ADMIN}?severity=critical&status=open"),
    Page("admin_findings_kev", f"{ADMIN}?kev=1"),
    Page("admin_findings_kev_overdue", f"{ADMIN}?kev=1&sla=overdue"),
    Page("admin_findings_ssvc_act", f"{ADMIN}?ssvc=Act"),
    Page("admin_findings_fixed", f"{ADMIN}?status=verified"),
    Page("admin_findings_search_cve", f"{ADMIN}?q={{cve}}"),
    Page("admin_finding_change", f"{ADMIN}{{finding}}/change/"),
    Page("admin_scans", "/admin/findings/scan/"),
    Page("admin_decisions", "/admin/policies/decision/"),
    Page("admin_decisions_block", "/admin/policies/decision/?outcome__exact=BLOCK"),
    Page("admin_decision_change", "/admin/policies/decision/{decision}/change/"),
    Page("api_findings", "/api/v1/findings/"),
    Page("api_findings_critical", "/api/v1/findings/?severity=critical"),
    Page("api_findings_open_by_risk", "/api/v1/findings/?status=open&ordering=-risk_score"),
    Page("api_findings_by_epss", "/api/v1/findings/?ordering=-epss"),
    Page("api_findings_due_first", "/api/v1/findings/?ordering=due_at"),
    Page("api_findings_kev", "/api/v1/findings/?kev=true"),
    Page("api_findings_tool", "/api/v1/findings/?tool=gitleaks"),
    Page("api_findings_overdue", "/api/v1/findings/?sla=overdue"),
    Page("api_findings_application", "/api/v1/findings/?application={application}"),
    Page("api_finding_detail", "/api/v1/findings/{finding}/"),
    Page("api_scans", "/api/v1/scans/"),
    Page("api_decisions", "/api/v1/decisions/"),
]
# The same clients on pages that read no findings: what any request costs right now.
BASELINES = {True: "/api/v1/me/", False: "/admin/password_change/"}


@pytest.fixture(scope="session")
def scale_tenant(django_db_setup, django_db_blocker):
    """The dataset's big tenant, generated unless the database already holds it."""
    with django_db_blocker.unblock():
        if REGENERATE or dataset_size(slug=SLUG) != FINDINGS:
            spec = Spec(
                tenants=TENANTS,
                applications=APPLICATIONS,
                findings=FINDINGS,
                big_tenant=SLUG,
                reset=True,
            )
            summary = dataset_generate(spec=spec, progress=print)
            rows = sum(summary.rows.values())
            print(  # noqa: T201
                f"\ngenerate_dataset: {FINDINGS} findings, {rows} rows in "
                f"{summary.seconds['total']:.1f} s ({rows / summary.seconds['total']:.0f} rows/s)"
            )
            figure("scale_generate_s", summary.seconds["total"], "s", better="lower")
        else:
            print(f"\ngenerate_dataset: reusing {SLUG} ({FINDINGS} findings)")  # noqa: T201
        return Tenant.objects.get(slug=SLUG)


def _values(tenant) -> dict:
    findings = Finding.objects.filter(tenant=tenant)
    app = (
        Application.objects.filter(tenant=tenant)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return {
        "finding": findings.filter(status="open").order_by("-id").values_list("id", flat=True)[0],
        "application": app,
        "decision": Decision.objects.filter(tenant=tenant).order_by("-id")[0].pk,
        "cve": findings.exclude(vuln_id="").order_by("-id").values_list("vuln_id", flat=True)[0],
    }


class _Queries:
    """Counts the SQL statements of a request and the time spent in them."""

    def __init__(self) -> None:
        self.count, self.seconds = 0, 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - start


def _measure(client, url: str) -> tuple[int, _Queries, list[float]]:
    """(status, queries of the first render, seconds of RENDERS renders after a warm-up)."""
    client.get(url)
    queries = _Queries()
    with connection.execute_wrapper(queries):
        status = client.get(url).status_code
    times = []
    for _ in range(RENDERS):
        start = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - start)
    return status, queries, times


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def test_bench_scale(scale_tenant):
    tenant = scale_tenant
    staff = UserFactory(username=f"{SLUG}.bench-staff", is_staff=True)
    MembershipFactory(user=staff, tenant=tenant, role="analyst")
    admin = Client()
    admin.force_login(staff)
    api = APIClient()
    token = api_token_issue(tenant=tenant, name="bench", role="viewer").plaintext
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    values = _values(tenant)

    baselines = {}
    for is_api, url in BASELINES.items():
        status, _, times = _measure(api if is_api else admin, url)
        assert status == 200, url
        baselines[is_api] = times
    failed, over = [], []
    print(f"\nscale bench: tenant {SLUG}, {FINDINGS} findings, {RENDERS} renders each")  # noqa: T201
    for page in PAGES:
        url = page.url.format(**values)
        status, queries, times = _measure(api if page.api else admin, url)
        if status != 200:
            failed.append(f"{page.name} {url} -> {status}")
            continue
        p50, p95 = statistics.median(times) * 1000, _p95(times) * 1000
        base = baselines[page.api]
        target = API_TARGET_MS if page.api else ADMIN_TARGET_MS
        verdict = "ok" if p95 < target else "OVER"
        if p95 >= target:
            over.append(page.name)
        print(  # noqa: T201
            f"  {page.name:32} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
            f"queries {queries.count:2} ({queries.seconds * 1000:.0f} ms)  "
            f"(baseline p50 {statistics.median(base) * 1000:.1f} ms; target {target} ms: {verdict})"
            f"  {url}"
        )
        figure(f"scale_{page.name}_p95_ms", p95, "ms", better="lower")
        figure(f"scale_{page.name}_p50_ms", p50, "ms", better="lower")
    if over:
        print(f"  above target: {', '.join(over)}")  # noqa: T201
    assert not failed, "pages that did not answer 200: " + "; ".join(failed)
