"""Evidence in the admin: bundles (with a GRC export action), keys, retention settings, and the
audit log, read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from apps.evidence.models import AuditCheckpoint, EvidenceBundle, EvidenceKey, EvidenceSettings
from apps.evidence.services import evidence_export, evidence_settings_save
from apps.tenants.admin_scoping import TenantScopedAdmin
from fixops.platform.models import AuditEvent


class ReadOnlyAdmin(TenantScopedAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description="Export selected bundles (zip that verifies offline)")
def export_bundles(modeladmin, request, queryset):
    tenants = {bundle.tenant for bundle in queryset.select_related("tenant")}
    if len(tenants) != 1:
        modeladmin.message_user(
            request, "Select bundles of one tenant per export.", level=messages.ERROR
        )
        return None
    tenant = tenants.pop()
    data = evidence_export(
        tenant=tenant,
        since=None,
        until=None,
        bundle_ids=list(queryset.values_list("pk", flat=True)),
    )
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="fixops-evidence-{tenant.slug}.zip"'
    return response


@admin.register(EvidenceBundle)
class EvidenceBundleAdmin(ReadOnlyAdmin):
    list_display = ("id", "decision", "tenant", "keyid", "backend", "size_bytes", "created_at")
    list_filter = ("backend", "algorithm", "tenant")
    search_fields = ("envelope_digest", "payload_digest", "keyid", "location")
    list_select_related = ("tenant", "decision")
    readonly_fields = [f.name for f in EvidenceBundle._meta.fields]
    actions = [export_bundles]


@admin.register(EvidenceSettings)
class EvidenceSettingsAdmin(TenantScopedAdmin):
    list_display = ("tenant", "retention_days", "lock_mode", "updated_at")
    fields = ("tenant", "retention_days", "lock_mode")
    list_select_related = ("tenant",)

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request)
        if ids is not None and obj.tenant_id not in ids:
            raise PermissionDenied("You may only change rows of your own tenants.")
        evidence_settings_save(settings_row=obj, actor=f"user:{request.user.get_username()}")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The platform's audit log, shown here beside its signed checkpoints."""

    # A plain column, not a foreign key: chains outlive their tenants.
    tenant_field = "tenant_id"
    list_display = ("seq", "tenant_id", "actor", "action", "target_type", "target_id", "created_at")
    list_filter = ("action", "target_type", "tenant_id")
    search_fields = ("actor", "target_id", "request_id", "hash")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def obj_tenant_id(self, obj) -> int | None:
        return obj.tenant_id


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "tenant", "seq", "head_hash", "keyid", "created_at")
    list_select_related = ("tenant",)
    exclude = ("envelope",)
    readonly_fields = ("tenant", "seq", "head_hash", "keyid", "backend", "location", "created_at")


@admin.register(EvidenceKey)
class EvidenceKeyAdmin(admin.ModelAdmin):
    list_display = ("keyid", "algorithm", "source", "created_at", "retired_at")
    readonly_fields = ("keyid", "algorithm", "public_pem", "source", "created_at", "retired_at")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
