"""Admin: integrations with their health, the outbox queue (filters, attempts, replay, cancel)
and the links to remote objects. Changes go through apps.connectors.services."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.utils import timezone

from apps.connectors.models import (
    UNFINISHED,
    ExternalLink,
    Integration,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from apps.connectors.services import (
    INTEGRATION_FIELDS,
    integration_breaker_reset,
    integration_check_config,
    integration_create,
    integration_delete,
    integration_sync,
    integration_test,
    integration_update,
    message_cancel,
    message_replay,
)
from apps.findings.admin import CappedCountPaginator
from apps.tenants.admin_scoping import TenantScopedAdmin, TenantScopedTabularInline
from fixops.platform import jsondepth
from fixops.platform.errors import DomainError


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


class IntegrationForm(forms.ModelForm):
    credentials_json = forms.CharField(
        label="Credentials (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="Write-only: never shown again. Leave empty to keep the stored credentials. "
        'E.g. Jira Cloud {"email": "...", "api_token": "..."}.',
    )

    class Meta:
        model = Integration
        fields = (
            "tenant",
            "kind",
            "name",
            "base_url",
            "settings",
            "min_severity",
            "min_risk",
            "grouping",
            "templates",
            "enabled",
        )

    def clean_credentials_json(self):
        raw = self.cleaned_data.get("credentials_json", "").strip()
        if not raw:
            if not (self.instance and self.instance.pk):
                raise forms.ValidationError("Credentials are required for a new integration.")
            return None
        try:
            value = jsondepth.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object.")
        return value

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = Integration(
            **{k: v for k, v in cleaned.items() if k in INTEGRATION_FIELDS or k == "tenant"}
        )
        credentials = cleaned.get("credentials_json")
        if credentials is None and self.instance.pk:
            credentials = Integration.objects.get(pk=self.instance.pk).credentials
        try:
            integration_check_config(candidate, credentials or {})
        except DomainError as exc:
            for field, message in (exc.details or {}).items():
                name = field.split(".", 1)[0]
                name = "credentials_json" if name == "credentials" else name
                self.add_error(name if name in self.fields else None, f"{field}: {message}")
        return cleaned


def _changed_fields(form) -> dict:
    fields = {name: form.cleaned_data[name] for name in INTEGRATION_FIELDS if name in form.fields}
    if form.cleaned_data.get("credentials_json") is not None:
        fields["credentials"] = form.cleaned_data["credentials_json"]
    return fields


@admin.register(Integration)
class IntegrationAdmin(TenantScopedAdmin):
    form = IntegrationForm
    list_display = (
        "name",
        "kind",
        "tenant",
        "enabled",
        "breaker_state",
        "last_success_at",
        "queue_depth",
        "dead_messages",
    )
    list_filter = ("kind", "enabled", "breaker_state", "tenant")
    search_fields = ("name", "base_url")
    list_select_related = ("tenant",)
    readonly_fields = (
        "breaker_state",
        "breaker_failures",
        "breaker_until",
        "last_success_at",
        "last_failure_at",
        "last_error",
        "queue_depth",
        "dead_messages",
    )
    fieldsets = (
        (None, {"fields": ("tenant", "kind", "name", "base_url", "credentials_json", "enabled")}),
        ("What is sent", {"fields": ("min_severity", "min_risk", "grouping", "templates")}),
        ("Vendor settings", {"fields": ("settings",)}),
        ("Health", {"fields": readonly_fields}),
    )
    actions = ["test_connection", "sync_now", "reset_breaker"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _queued=Count("messages", filter=Q(messages__status__in=UNFINISHED)),
                _dead=Count("messages", filter=Q(messages__status=MessageStatus.DEAD)),
            )
        )

    @admin.display(description="Queue depth")
    def queue_depth(self, obj) -> int:
        return getattr(obj, "_queued", None) or obj.messages.filter(status__in=UNFINISHED).count()

    @admin.display(description="Dead")
    def dead_messages(self, obj) -> int:
        return getattr(obj, "_dead", None) or obj.messages.filter(status=MessageStatus.DEAD).count()

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request)
        tenant = form.cleaned_data["tenant"]
        if ids is not None and tenant.pk not in ids:
            raise PermissionDenied("You may only change integrations of your own tenants.")
        fields = _changed_fields(form)
        if change:
            saved = integration_update(
                integration=Integration.objects.get(pk=obj.pk), actor=_actor(request), **fields
            )
        else:
            saved = integration_create(tenant=tenant, actor=_actor(request), **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        """Through the service, so the admin's delete is the API's: audited as
        integration.delete, refused with the same message while something still needs it."""
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied("Deleting needs the admin role in this row's tenant.")
        try:
            integration_delete(integration=obj, actor=_actor(request))
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for integration in queryset:
            self.delete_model(request, integration)

    @admin.action(description="Test the connection to the vendor")
    def test_connection(self, request, queryset):
        for integration in queryset:
            try:
                answer = integration_test(integration=integration)
                self.message_user(request, f"{integration}: {answer}", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"{integration}: {exc.message}", messages.ERROR)

    @admin.action(description="Sync now (enqueue what is missing and deliver)")
    def sync_now(self, request, queryset):
        for integration in queryset:
            counts = integration_sync(integration=integration, actor=_actor(request))
            self.message_user(request, f"{integration}: {counts}", messages.INFO)

    @admin.action(description="Close the circuit breaker (resume deliveries now)")
    def reset_breaker(self, request, queryset):
        for integration in queryset:
            integration_breaker_reset(integration=integration, actor=_actor(request))
        self.message_user(request, f"{queryset.count()} breaker(s) closed.", messages.SUCCESS)


class AttemptInline(TenantScopedTabularInline):
    model = OutboxAttempt
    fields = ("number", "started_at", "duration_ms", "outcome", "http_status", "error", "worker")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    AGES = {"1m": 60, "10m": 600, "1h": 3600, "1d": 86400}

    def lookups(self, request, model_admin):
        return [
            ("1m", "older than a minute"),
            ("10m", "older than 10 minutes"),
            ("1h", "older than an hour"),
            ("1d", "older than a day"),
        ]

    def queryset(self, request, queryset):
        seconds = self.AGES.get(self.value() or "")
        if seconds is None:
            return queryset
        return queryset.filter(created_at__lt=timezone.now() - timedelta(seconds=seconds))


@admin.register(OutboxMessage)
class OutboxMessageAdmin(TenantScopedAdmin):
    list_display = (
        "id",
        "integration",
        "kind",
        "reference",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "short_error",
    )
    list_filter = ("status", "kind", AgeFilter, "integration", "tenant")
    search_fields = ("reference", "idempotency_key", "last_error")
    list_select_related = ("integration", "tenant")
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    inlines = [AttemptInline]
    actions = ["replay", "cancel"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload")

    @admin.display(description="Last error")
    def short_error(self, obj) -> str:
        return (obj.last_error or "")[:120]

    def has_add_permission(self, request):
        return False  # messages are written by services, in the transaction of their cause

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def _each(self, request, queryset, service, verb: str) -> None:
        done, refused = 0, []
        for message in queryset:
            try:
                service(message=message, actor=_actor(request))
                done += 1
            except DomainError as exc:
                refused.append(f"#{message.pk}: {exc.message}")
        self.message_user(request, f"{done} message(s) {verb}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "; ".join(refused[:20]), messages.WARNING)

    @admin.action(description="Replay selected dead messages")
    def replay(self, request, queryset):
        self._each(request, queryset, message_replay, "queued again")

    @admin.action(description="Cancel selected undelivered messages")
    def cancel(self, request, queryset):
        self._each(request, queryset, message_cancel, "cancelled")


@admin.register(ExternalLink)
class ExternalLinkAdmin(TenantScopedAdmin):
    list_display = (
        "reference",
        "integration",
        "remote_key",
        "remote_status",
        "state",
        "last_sync_at",
    )
    list_filter = ("state", "integration", "tenant")
    search_fields = ("reference", "remote_key", "remote_id")
    list_select_related = ("integration",)
    readonly_fields = [f.name for f in ExternalLink._meta.fields]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False
