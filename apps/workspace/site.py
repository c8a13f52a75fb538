"""The admin site people work in: FixOps's titles on Django's admin. The dashboard index and
the grouping of the app list are this class's."""

from django.contrib import admin


class WorkspaceAdminSite(admin.AdminSite):
    site_header = "FixOps"
    site_title = "FixOps admin"
    index_title = "Decisions, findings and remediation"
