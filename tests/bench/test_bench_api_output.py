"""A findings page (50 rows, the API's default) as GET /api/v1/findings/ serialises it.

Baseline: DRF's generic `Serializer.to_representation` on the same rows, in the same run;
measured: FastOutput (fixops/platform/api/output.py), which the list serializers use. The
whole request is printed beside them: the findings list was 42 % of the web workers' time in
the load test (docs/operations.md, "Load test").
"""

from __future__ import annotations

import time

import pytest
from rest_framework import serializers

from apps.findings.api.findings import FindingOutputSerializer
from apps.findings.selectors import finding_list
from apps.tenants.models import Team
from tests.bench.figures import figure
from tests.findings.factories import ApplicationFactory, FindingFactory

ROUNDS = 200


def _best(run) -> float:
    """The fastest of ROUNDS runs, in ms: the cost without the machine's noise."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


@pytest.mark.django_db
def test_bench_findings_page_serialisation(acme, acme_analyst):
    app = ApplicationFactory(tenant=acme, name="shop")
    team = Team.objects.create(tenant=acme, name="payments")
    for i in range(50):
        FindingFactory(
            tenant=acme,
            application=app,
            kind="sca",
            vuln_id=f"CVE-2026-{1000 + i}",
            aliases=[f"GHSA-{i:04d}-aaaa-bbbb"],
            component_purl=f"pkg:npm/lib{i}@1.0.{i}",
            component_name=f"lib{i}",
            component_version=f"1.0.{i}",
            fixed_versions=[f"1.0.{i + 1}"],
            cwe=79,
            risk_score=40 + i,
            epss=i / 100,
            ssvc="Attend",
            owner_team=team if i % 3 == 0 else None,
        )
    page = list(finding_list(tenant=acme).order_by("-id")[:50])
    assert len(page) == 50

    def generic():
        serializer = FindingOutputSerializer()
        return [serializers.Serializer.to_representation(serializer, row) for row in page]

    def fast():
        return FindingOutputSerializer(page, many=True).data

    assert [dict(row) for row in fast()] == generic()  # the same answer, or no figure
    baseline, measured = _best(generic), _best(fast)
    acme_analyst.get("/api/v1/findings/")  # warm up
    request = _best(lambda: acme_analyst.get("/api/v1/findings/"))
    print(
        f"\nFindings page of 50: DRF generic {baseline:.2f} ms, FastOutput {measured:.2f} ms "
        f"({baseline / measured:.1f}x); the whole GET /api/v1/findings/ {request:.1f} ms "
        f"(best of {ROUNDS})"
    )
    figure("findings_page.drf_generic", baseline, "ms", better="lower")
    figure("findings_page.fast_output", measured, "ms", better="lower")
    figure("findings_page.request", request, "ms", better="lower")
