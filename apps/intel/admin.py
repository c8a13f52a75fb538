from django.contrib import admin

from apps.intel.models import FeedStatus, IntelEvent, OsvAdvisory, RiskSettings, Vulnerability
from apps.tenants.admin_scoping import TenantScopedAdmin
from fixops.platform.admin_audit import AuditedAdmin


@admin.register(Vulnerability)
class VulnerabilityAdmin(AuditedAdmin):
    list_display = (
        "vuln_id",
        "cvss_v3_score",
        "epss_score",
        "epss_percentile",
        "kev",
        "kev_ransomware",
    )
    list_filter = ("kev", "kev_ransomware", "exploit_public")
    search_fields = ("vuln_id", "summary")
    show_full_result_count = False


@admin.register(FeedStatus)
class FeedStatusAdmin(AuditedAdmin):
    list_display = ("name", "last_success", "row_count", "version", "last_attempt", "last_error")
    readonly_fields = [f.name for f in FeedStatus._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(OsvAdvisory)
class OsvAdvisoryAdmin(AuditedAdmin):
    list_display = ("osv_id", "modified", "withdrawn", "summary")
    search_fields = ("osv_id", "summary")
    show_full_result_count = False


@admin.register(RiskSettings)
class RiskSettingsAdmin(TenantScopedAdmin):
    list_display = ("tenant", "epss_alert_threshold", "updated_at")


@admin.register(IntelEvent)
class IntelEventAdmin(TenantScopedAdmin):
    list_display = ("kind", "vuln_id", "finding_id", "tenant", "created_at")
    list_filter = ("kind", "tenant")
    readonly_fields = ("kind", "vuln_id", "finding_id", "details", "created_at", "tenant")
