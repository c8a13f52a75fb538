"""Admin of two-way sync: notification rules (which events reach which channel), the drift
report reconciliation writes, and the inbox of webhook deliveries. Registered by importing this
module from apps/connectors/admin.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from apps.connectors.admin import ADMIN_ONLY, _actor
from apps.connectors.inbound.inbox import delivery_retry
from apps.connectors.models import (
    DeliveryStatus,
    Drift,
    InboundDelivery,
    NotificationEvent,
    NotificationRule,
)
from apps.connectors.notification_rules import (
    RULE_FIELDS,
    notification_rule_create,
    notification_rule_delete,
    notification_rule_update,
)
from apps.findings.admin import CappedCountPaginator
from apps.tenants.admin_scoping import TenantScopedAdmin, role_action
from apps.tenants.roles import Role
from fixops.platform.errors import DomainError


class NotificationRuleForm(forms.ModelForm):
    """Events as checkboxes; the service checks the rest (same tenant, known events)."""

    events = forms.MultipleChoiceField(
        choices=NotificationEvent.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = NotificationRule
        fields = ("tenant", "name", "events", "min_severity", "integration", "enabled")

    def clean(self):
        cleaned = super().clean()
        tenant, integration = cleaned.get("tenant"), cleaned.get("integration")
        if tenant and integration and integration.tenant_id != tenant.pk:
            self.add_error("integration", "Choose an integration of the same tenant.")
        return cleaned


@admin.register(NotificationRule)
class NotificationRuleAdmin(TenantScopedAdmin):
    """Which events reach which channel. Writes need the admin role, as in the API."""

    admin_roles = ADMIN_ONLY
    form = NotificationRuleForm
    list_display = ("name", "integration", "event_list", "min_severity", "enabled", "tenant")
    list_filter = ("enabled", "min_severity", "tenant")
    search_fields = ("name", "integration__name")
    list_select_related = ("tenant", "integration")

    @admin.display(description="Events")
    def event_list(self, obj) -> str:
        return ", ".join(obj.events or [])

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request, Role.ADMIN)
        tenant = form.cleaned_data["tenant"]
        if ids is not None and tenant.pk not in ids:
            raise PermissionDenied("You may only change rules of your own tenants.")
        fields = {k: form.cleaned_data[k] for k in RULE_FIELDS}
        try:
            if change:
                current = NotificationRule.objects.get(pk=obj.pk)
                saved = notification_rule_update(rule=current, actor=_actor(request), **fields)
            else:
                saved = notification_rule_create(tenant=tenant, actor=_actor(request), **fields)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied("Deleting needs the admin role in this row's tenant.")
        notification_rule_delete(rule=obj, actor=_actor(request))

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "open"), ("no", "repaired")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(repaired_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(repaired_at__isnull=False)
        return queryset


@admin.register(Drift)
class DriftAdmin(TenantScopedAdmin):
    """The drift report: what reconciliation found out of line, and its repair (read-only:
    reconciliation writes it, apps/connectors/reconcile.py)."""

    list_display = (
        "reference",
        "integration",
        "kind",
        "remote_key",
        "finding_id",
        "detected_at",
        "repaired_at",
        "repair",
    )
    list_filter = ("kind", OpenFilter, "integration", "tenant")
    search_fields = ("reference", "remote_key")
    list_select_related = ("integration",)
    readonly_fields = [f.name for f in Drift._meta.fields]
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="Repair")
    def repair(self, obj) -> str:
        return str(obj.detail.get("repair", ""))[:120]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(TenantScopedAdmin):
    """The inbox: webhook deliveries as received (verified), what applying them did, and the
    failed ones with their error (retry them with the action)."""

    list_display = (
        "id",
        "integration",
        "delivery_id",
        "status",
        "attempts",
        "received_at",
        "applied_at",
        "short_error",
    )
    list_filter = ("status", "integration", "tenant")
    search_fields = ("delivery_id", "error")
    list_select_related = ("integration", "tenant")
    readonly_fields = [f.name for f in InboundDelivery._meta.fields if f.name != "body"]
    exclude = ("body",)
    actions = ["retry"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body", "headers")

    @admin.display(description="Error")
    def short_error(self, obj) -> str:
        return (obj.error or "")[:120]

    def has_add_permission(self, request):
        return False  # deliveries are written by the /hooks/ endpoint only

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    @admin.action(description="Retry selected failed deliveries")
    @role_action(Role.ADMIN)
    def retry(self, request, queryset):
        done = sum(
            1
            for delivery in queryset.filter(status=DeliveryStatus.FAILED)
            if delivery_retry(delivery=delivery, actor=_actor(request))
        )
        self.message_user(request, f"{done} delivery(ies) queued again.", messages.SUCCESS)
