"""The read side's API: analytics and reports (docs/workspace.md)."""

from django.urls import path

from apps.workspace.api import analytics, reports

urlpatterns: list = [
    path("analytics/summary/", analytics.AnalyticsSummaryApi.as_view(), name="analytics-summary"),
    path("analytics/trends/", analytics.AnalyticsTrendsApi.as_view(), name="analytics-trends"),
    path("analytics/sla/", analytics.AnalyticsSlaApi.as_view(), name="analytics-sla"),
    path(
        "reports/applications/<int:application_id>/",
        reports.ApplicationReportApi.as_view(),
        name="report-application",
    ),
    path("reports/tenant/", reports.TenantReportApi.as_view(), name="report-tenant"),
]
