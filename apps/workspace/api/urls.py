"""The read side's API: analytics and reports (docs/workspace.md)."""

from django.urls import path

from apps.workspace.api import analytics

urlpatterns: list = [
    path("analytics/summary/", analytics.AnalyticsSummaryApi.as_view(), name="analytics-summary"),
    path("analytics/trends/", analytics.AnalyticsTrendsApi.as_view(), name="analytics-trends"),
    path("analytics/sla/", analytics.AnalyticsSlaApi.as_view(), name="analytics-sla"),
]
