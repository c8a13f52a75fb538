from django.contrib import admin

from apps.findings.models import Application
from apps.tenants.admin_scoping import TenantScopedAdmin


@admin.register(Application)
class ApplicationAdmin(TenantScopedAdmin):
    list_display = ("name", "tenant", "criticality", "internet_exposed", "data_classification")
    list_filter = ("criticality", "internet_exposed", "data_classification", "tenant")
    search_fields = ("name", "repo_url")
    list_select_related = ("tenant",)
