"""The read side's API: analytics and reports (docs/workspace.md)."""

from django.urls import path

from apps.workspace.api import reports

urlpatterns: list = [
    path(
        "reports/applications/<int:application_id>/",
        reports.ApplicationReportApi.as_view(),
        name="report-application",
    ),
    path("reports/tenant/", reports.TenantReportApi.as_view(), name="report-tenant"),
]
