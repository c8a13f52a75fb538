"""The admin site people work in: FixOps's titles on Django's admin. The dashboard index and
the grouping of the app list are this class's."""

from django.contrib import admin

from apps.workspace.reports.admin_views import report_urls


class WorkspaceAdminSite(admin.AdminSite):
    site_header = "FixOps"
    site_title = "FixOps admin"
    index_title = "Decisions, findings and remediation"

    def get_urls(self):
        # The reports' download pages (apps/workspace/reports/admin_views.py) come first: the
        # catch-all app index pattern would take "reports/" for an app label.
        return report_urls(self) + super().get_urls()
