"""The analytics API: the dashboard's numbers (docs/workspace.md, "Analytics API")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.tenants.api.base import TenantApi
from apps.workspace.api.serializers import SlaSerializer, SummarySerializer, TrendsSerializer
from apps.workspace.selectors import (
    MAX_TREND_DAYS,
    TREND_DAYS,
    analytics_sla,
    analytics_summary,
    analytics_trends,
)


class AnalyticsSummaryApi(TenantApi):
    scope_resource = "analytics"

    @extend_schema(responses=SummarySerializer, summary="The dashboard's numbers")
    def get(self, request):
        return Response(SummarySerializer(analytics_summary(tenant=request.tenant)).data)


class AnalyticsTrendsApi(TenantApi):
    scope_resource = "analytics"

    class InputSerializer(serializers.Serializer):
        days = serializers.IntegerField(
            required=False,
            default=TREND_DAYS,
            min_value=1,
            max_value=MAX_TREND_DAYS,
            help_text=f"Days back, today included (1..{MAX_TREND_DAYS}).",
        )

    @extend_schema(
        parameters=[InputSerializer],
        responses=TrendsSerializer,
        summary="Findings opened and closed per day, decisions per week",
    )
    def get(self, request):
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        trends = analytics_trends(tenant=request.tenant, days=query.validated_data["days"])
        return Response(TrendsSerializer(trends).data)


class AnalyticsSlaApi(TenantApi):
    scope_resource = "analytics"

    @extend_schema(responses=SlaSerializer, summary="SLA compliance per application and in total")
    def get(self, request):
        return Response(SlaSerializer(analytics_sla(tenant=request.tenant)).data)
