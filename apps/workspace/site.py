"""The admin site people work in: FixOps's titles on Django's admin, and the dashboard as its
index (apps/workspace/dashboard.py; docs/workspace.md, "Dashboard")."""

from django.contrib import admin

from apps.workspace import dashboard


class WorkspaceAdminSite(admin.AdminSite):
    site_header = "FixOps"
    site_title = "FixOps admin"
    index_title = "Dashboard"

    def index(self, request, extra_context=None):
        extra = {**(extra_context or {}), "dashboard": dashboard.build(request)}
        return super().index(request, extra)
