"""Admin: model providers (API key write-only), the tenant's advisory settings with the
data-sharing notice, and token usage (read-only). Changes go through apps.advisory.services,
so the admin behaves as the API: same checks, same audit rows, admin role for every write."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html

from apps.advisory.models import AdvisorySettings, Provider, TokenUsage
from apps.advisory.services import (
    DATA_SHARING_NOTICE,
    PROVIDER_FIELDS,
    provider_check,
    provider_create,
    provider_delete,
    provider_update,
    settings_update,
)
from apps.tenants.admin_scoping import TenantScopedAdmin
from apps.tenants.roles import Role
from fixops.platform.errors import Invalid

ADMIN_ONLY = {"view": Role.ADMIN, "add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}
HEALTH = ("breaker_state", "breaker_failures", "breaker_until", "last_success_at", "last_error")


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


class ProviderForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        strip=True,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: never shown. Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = Provider
        # The service's fields, but the key: a write-only field of its own (above).
        fields = ("tenant", *(f for f in PROVIDER_FIELDS if f != "api_key"))

    def clean(self):
        cleaned = super().clean()
        values = {k: cleaned.get(k) for k in ("base_url", "weight", "timeout")}
        if None in values.values():
            return cleaned  # the field errors already say why
        unchanged = self.instance.pk and self.instance.base_url == values["base_url"]
        try:
            provider_check(Provider(**values), url=not unchanged)
        except Invalid as exc:
            for field, message in exc.details.items():
                self.add_error(field if field in self.fields else None, message)
        return cleaned

    def service_fields(self) -> dict:
        fields = {k: v for k, v in self.cleaned_data.items() if k in PROVIDER_FIELDS}
        fields.pop("api_key", None)
        if self.cleaned_data.get("clear_api_key"):
            fields["api_key"] = ""
        elif self.cleaned_data.get("api_key"):
            fields["api_key"] = self.cleaned_data["api_key"]
        return fields


@admin.register(Provider)
class ProviderAdmin(TenantScopedAdmin):
    admin_roles = ADMIN_ONLY
    form = ProviderForm
    list_display = ("name", "kind", "model", "tenant", "weight", "enabled", "breaker_state")
    list_filter = ("kind", "enabled", "breaker_state", "tenant")
    search_fields = ("name", "model", "base_url")
    list_select_related = ("tenant",)
    readonly_fields = HEALTH

    def get_fieldsets(self, request, obj=None):
        main = ("tenant", "name", "kind", "base_url", "model", "api_key", "clear_api_key")
        sets = [
            (None, {"fields": main}),
            (
                "Consensus, budget and cost",
                {
                    "fields": (
                        "weight",
                        "timeout",
                        "daily_token_budget",
                        "price_in_per_1k",
                        "price_out_per_1k",
                        "enabled",
                    )
                },
            ),
        ]
        return sets + ([("Health", {"fields": HEALTH})] if obj is not None else [])

    def save_model(self, request, obj, form, change):
        tenant = form.cleaned_data["tenant"]
        ids = self._tenant_ids(request, Role.ADMIN)
        if ids is not None and tenant.pk not in ids:
            raise PermissionDenied("You may only change providers of your own tenants.")
        fields = form.service_fields()
        fields.pop("tenant", None)
        if change:
            current = Provider.objects.get(pk=obj.pk)
            saved = provider_update(provider=current, actor=_actor(request), **fields)
        else:
            saved = provider_create(tenant=tenant, actor=_actor(request), **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied("Deleting needs the admin role in this row's tenant.")
        provider_delete(provider=obj, actor=_actor(request))

    def delete_queryset(self, request, queryset):
        for provider in queryset:
            self.delete_model(request, provider)


class SettingsForm(forms.ModelForm):
    """Enabling needs the notice accepted, as in the API."""

    accept_data_sharing = forms.BooleanField(
        required=False,
        label="I accept the data-sharing notice",
        help_text="Records who accepted and when. Unticking withdraws it and turns advisory off.",
    )

    class Meta:
        model = AdvisorySettings
        fields = ("tenant", "enabled", "consensus_threshold")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["accept_data_sharing"].initial = self.instance.data_sharing_accepted

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("enabled") and not cleaned.get("accept_data_sharing"):
            self.add_error("enabled", "Accept the data-sharing notice before enabling.")
        return cleaned


@admin.register(AdvisorySettings)
class AdvisorySettingsAdmin(TenantScopedAdmin):
    # Everyone may see whether advisory is on and what it shares (as in the API).
    admin_roles = {**ADMIN_ONLY, "view": Role.VIEWER}
    form = SettingsForm
    list_display = ("tenant", "enabled", "consensus_threshold", "data_sharing_accepted_at")
    list_select_related = ("tenant",)
    readonly_fields = ("notice", "data_sharing_accepted_by", "data_sharing_accepted_at")
    fields = (
        "tenant",
        "notice",
        "accept_data_sharing",
        "data_sharing_accepted_by",
        "data_sharing_accepted_at",
        "enabled",
        "consensus_threshold",
    )

    @admin.display(description="Data-sharing notice")
    def notice(self, obj) -> str:
        return format_html('<p class="fx-notice">{}</p>', DATA_SHARING_NOTICE)

    def save_model(self, request, obj, form, change):
        tenant = form.cleaned_data["tenant"]
        ids = self._tenant_ids(request, Role.ADMIN)
        if ids is not None and tenant.pk not in ids:
            raise PermissionDenied("You may only change your own tenants' settings.")
        accept = form.cleaned_data.get("accept_data_sharing")
        saved = settings_update(
            tenant=tenant,
            actor=_actor(request),
            user=request.user,
            accept_data_sharing=accept,
            consensus_threshold=form.cleaned_data.get("consensus_threshold"),
            enabled=bool(form.cleaned_data.get("enabled")),
        )
        obj.pk = saved.pk


@admin.register(TokenUsage)
class TokenUsageAdmin(TenantScopedAdmin):
    """Read-only: written by every call (apps/advisory/asking.py)."""

    admin_roles = ADMIN_ONLY
    list_display = (
        "day",
        "provider",
        "tokens_in",
        "tokens_out",
        "cost",
        "calls",
        "skipped_over_budget",
    )
    list_filter = ("day", "tenant")
    list_select_related = ("provider", "tenant")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
