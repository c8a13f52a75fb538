"""The two busiest list pages of the load test (docs/operations.md, "Load test"), 50 rows each.

- Findings: DRF's generic `Serializer.to_representation` on the same rows (baseline) against
  FastOutput (fixops/platform/api/output.py), which the list serializers use.
- Decisions: the page's read with whole scan and bundle rows (baseline) against
  decision_list's narrower one.

Each prints the whole request beside them; figures are the best of ROUNDS runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rest_framework import serializers

from apps.findings.api.findings import FindingOutputSerializer
from apps.findings.selectors import finding_list
from apps.pipeline.api.decisions import DecisionSerializer
from apps.policies.selectors import decision_list
from apps.tenants.models import Team
from tests.bench.figures import figure
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.findings.reports import upload

ROUNDS = 200
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scans"


def _best(run) -> float:
    """The fastest of ROUNDS runs, in ms: the cost without the machine's noise."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _report(page: str, baseline: tuple[str, float], measured: tuple[str, float], request: float):
    """One line beside its baseline, then the BENCH figures (ms, lower is better)."""
    (base_name, base_ms), (name, ms) = baseline, measured
    print(
        f"\n{page} (50 rows): {base_name} {base_ms:.2f} ms, {name} {ms:.2f} ms "
        f"({base_ms / ms:.2f}x); the whole request {request:.1f} ms (best of {ROUNDS})"
    )
    for figure_name, value in ((base_name, base_ms), (name, ms), ("request", request)):
        figure(f"{page}.{figure_name}", value, "ms", better="lower")


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
    _report("findings_page", ("drf_generic", baseline), ("fast_output", measured), request)


@pytest.mark.django_db
def test_bench_decisions_page_read(acme, acme_analyst):
    """The decisions page's read: decision_list against the same query loading every column
    of the scans and bundles (what it loaded before), in the same run."""
    report = (FIXTURES / "gitleaks" / "report.json").read_bytes()
    for i in range(50):
        answer = acme_analyst.post(
            "/api/v1/scans/",
            {"file": upload(report), "application": "shop", "decide": True, "branch": f"b{i}"},
            format="multipart",
        )
        assert answer.status_code == 201, answer.content
    listed = decision_list(tenant=acme).order_by("-id")
    whole = (
        listed.prefetch_related(None).prefetch_related("scans").defer(None).defer("input", "result")
    )
    assert [d.pk for d in whole[:50]] == [d.pk for d in listed[:50]]
    baseline = _best(lambda: DecisionSerializer(list(whole[:51]), many=True).data)
    measured = _best(lambda: DecisionSerializer(list(listed[:51]), many=True).data)
    request = _best(lambda: acme_analyst.get("/api/v1/decisions/"))
    _report("decisions_page", ("whole_rows", baseline), ("decision_list", measured), request)
