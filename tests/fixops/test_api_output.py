"""FastOutput (fixops/platform/api/output.py) answers exactly what DRF's generic
`Serializer.to_representation` answers: on the list serializers that use it, with rows that
exercise nulls, owners, nested and method fields, and on a serializer made of the cases
where it must hand over to DRF."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework import serializers

from apps.findings.api.findings import FindingDetailSerializer, FindingOutputSerializer
from apps.findings.models import Scan
from apps.findings.selectors import finding_get, finding_list
from apps.pipeline.api.decisions import DecisionSerializer, decision_queryset
from apps.pipeline.api.scans import ScanOutputSerializer
from apps.tenants.models import Team
from fixops.platform.api.output import FastOutput
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.findings.reports import upload
from tests.tenants.factories import UserFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scans"


def _drf(serializer_class, instance, **kwargs) -> dict:
    """The generic answer, from DRF's own Serializer.to_representation."""
    return serializers.Serializer.to_representation(serializer_class(**kwargs), instance)


def _same(serializer_class, rows) -> None:
    rows = list(rows)
    assert rows  # a comparison of nothing proves nothing
    fast = serializer_class(rows, many=True).data
    assert [dict(row) for row in fast] == [_drf(serializer_class, row) for row in rows]


@pytest.mark.django_db
def test_findings_list_and_detail_answer_what_drf_answers(acme):
    app = ApplicationFactory(tenant=acme, name="shop")
    user = UserFactory(username="alice")
    team = Team.objects.create(tenant=acme, name="payments")
    FindingFactory(tenant=acme, application=app)  # nulls: no cwe, line, risk, epss, owner
    FindingFactory(
        tenant=acme,
        application=app,
        cwe=79,
        line=12,
        risk_score=71.5,
        epss=0.93,
        kev=True,
        aliases=["GHSA-aaaa-bbbb-cccc"],
        fixed_versions=["1.2.3", "2.0.0"],
        owner_user=user,
        closed_at=timezone.now(),
        status="fixed",
    )
    FindingFactory(tenant=acme, application=app, owner_team=team, severity="low", ssvc="Act")
    _same(FindingOutputSerializer, finding_list(tenant=acme).order_by("-id"))
    for finding in finding_list(tenant=acme):
        detail = finding_get(tenant=acme, finding_id=finding.pk)
        detail.occurrence_rows = []
        _same(FindingDetailSerializer, [detail])


@pytest.mark.django_db
def test_scans_and_decisions_answer_what_drf_answers(acme, acme_analyst):
    report = (FIXTURES / "gitleaks" / "report.json").read_bytes()
    for branch in ("main", "dev"):
        response = acme_analyst.post(
            "/api/v1/scans/",
            {"file": upload(report), "application": "shop", "decide": True, "branch": branch},
            format="multipart",
        )
        assert response.status_code == 201, response.content
    _same(ScanOutputSerializer, Scan.objects.filter(tenant=acme).select_related("application"))
    _same(DecisionSerializer, decision_queryset(acme))


class _Row:
    def __init__(self) -> None:
        self.when = datetime(2026, 12, 6, 10, 30, tzinfo=timezone.get_fixed_timezone(120))
        self.naive = datetime(2026, 12, 6, 10, 30)  # noqa: DTZ001 - DRF makes it aware
        self.text = "plain"
        self.count = "7"
        self.numbers = [1, None, 3]
        self.nested = SimpleNamespace(name="inner")
        self.none = None

    def method(self) -> str:
        return "called"


class _Edges(FastOutput, serializers.Serializer):
    when = serializers.DateTimeField()
    when_date = serializers.DateTimeField(source="when", format="%Y-%m-%d")
    naive = serializers.DateTimeField()
    text = serializers.CharField()
    count = serializers.IntegerField()
    numbers = serializers.ListField(child=serializers.IntegerField())
    name = serializers.CharField(source="nested.name")
    method = serializers.CharField()  # a callable: DRF calls it
    missing_default = serializers.CharField(source="absent", default="fallback")
    missing_null = serializers.CharField(source="absent", allow_null=True)
    missing_skipped = serializers.CharField(source="absent", required=False)
    through_none = serializers.CharField(source="none.name", allow_null=True)
    whole = serializers.SerializerMethodField()

    def get_whole(self, row) -> str:
        return row.text.upper()


def test_the_cases_drf_decides_are_left_to_drf():
    row = _Row()
    fast = _Edges(row).data
    assert dict(fast) == _drf(_Edges, row)
    assert fast["method"] == "called"
    assert fast["missing_default"] == "fallback" and fast["missing_null"] is None
    assert "missing_skipped" not in fast
    assert fast["when_date"] == "2026-12-06" and fast["numbers"] == [1, None, 3]
    with timezone.override("America/New_York"):  # the current zone, as DRF reads it
        assert dict(_Edges(row).data) == _drf(_Edges, row)
        assert _Edges(row).data["when"] == "2026-12-06T03:30:00-05:00"


class _Pair(FastOutput, serializers.Serializer):
    text = serializers.CharField()
    when = serializers.DateTimeField()


def test_a_dict_row_is_read_by_drf():
    row = {"text": "from a dict", "when": timezone.now() + timedelta(hours=1)}
    assert dict(_Pair(row).data) == _drf(_Pair, row)


def test_a_missing_required_value_fails_as_in_drf():
    row = SimpleNamespace(text="x")

    class Strict(FastOutput, serializers.Serializer):
        absent = serializers.CharField()

    with pytest.raises(AttributeError) as fast:
        Strict(row).data  # noqa: B018
    with pytest.raises(AttributeError) as generic:
        _drf(Strict, row)
    assert str(fast.value) == str(generic.value)
