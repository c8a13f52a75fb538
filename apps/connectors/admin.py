"""Admin: integrations with their health, the outbox queue (filters, attempts, replay, cancel)
and the links to remote objects. Changes go through apps.connectors.services."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join

from apps.connectors.admin_forms import integration_form, kind_fieldsets
from apps.connectors.inbound.receive import webhook_url
from apps.connectors.models import (
    UNFINISHED,
    Drift,
    DriftKind,
    ExternalLink,
    Integration,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from apps.connectors.registry import KINDS, SPECS, Kind, connector_class
from apps.connectors.services import (
    integration_breaker_reset,
    integration_create,
    integration_delete,
    integration_rotate_webhook_secret,
    integration_sync,
    integration_test,
    integration_update,
    message_cancel,
    message_replay,
)
from apps.findings.admin import CappedCountPaginator
from apps.tenants.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedTabularInline,
    role_action,
)
from apps.tenants.roles import Role
from fixops.platform.errors import DomainError


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


ADMIN_ONLY = {"add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}
HEALTH = (
    "breaker_state",
    "breaker_failures",
    "breaker_until",
    "last_success_at",
    "last_failure_at",
    "last_error",
    "queue_depth",
    "dead_messages",
)


@admin.register(Integration)
class IntegrationAdmin(TenantScopedAdmin):
    """A form per kind (apps/connectors/admin_forms.py): adding asks for the vendor first;
    the change page has a "Test connection" button. Writes need the admin role, as in the API."""

    admin_roles = ADMIN_ONLY
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
    readonly_fields = (*HEALTH, "webhook_url_display", "drift_report")
    actions = ["test_connection", "sync_now", "reset_breaker"]
    change_form_template = "admin/connectors/integration/change_form.html"

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

    @admin.display(description="Drift found by reconciliation")
    def drift_report(self, obj) -> str:
        """Open drift per kind, each linking to the drift changelist of this integration."""
        counts = dict(
            Drift.objects.filter(integration=obj, repaired_at__isnull=True)
            .values_list("kind")
            .annotate(n=Count("id"))
            .values_list("kind", "n")
        )
        url = reverse("admin:connectors_drift_changelist")
        rows = [
            (
                f"{url}?integration__id__exact={obj.pk}&kind__exact={kind}&open=yes",
                label,
                counts.get(kind, 0),
            )
            for kind, label in DriftKind.choices
        ]
        return format_html(
            '<ul>{}</ul><a href="{}?integration__id__exact={}">All drift, repaired included</a>',
            format_html_join("", '<li><a href="{}">{}</a>: {} open</li>', rows),
            url,
            obj.pk,
        )

    @admin.display(description="Webhook URL")
    def webhook_url_display(self, obj) -> str:
        url, warning = webhook_url(obj)
        return f"{url} ({warning})" if warning else url

    # --- the form per kind ---------------------------------------------------------------
    def _kind(self, request, obj=None) -> str | None:
        kind = obj.kind if obj is not None else request.GET.get("kind")
        return kind if kind in KINDS else None

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return ["kind", *fields] if obj is not None else fields

    def get_fieldsets(self, request, obj=None):
        kind = self._kind(request, obj)
        label = dict(Kind.choices).get(kind, "")
        first = (
            ["tenant", "kind", "name", "base_url", "enabled"]
            if obj
            else [
                "tenant",
                "name",
                "base_url",
                "enabled",
            ]
        )
        stored = obj.credentials if obj is not None else {}
        return [
            (None if obj else f"New {label} integration", {"fields": first}),
            *kind_fieldsets(kind, stored),
            ("What is sent", {"fields": ("min_severity", "min_risk", "grouping", "templates")}),
            *([("Inbound webhook", {"fields": ("webhook_url_display",)})] if obj else []),
            *([("Health", {"fields": HEALTH})] if obj is not None else []),
            *([("Drift", {"fields": ("drift_report",)})] if obj is not None else []),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = integration_form(self._kind(request, obj))
        form = super().get_form(request, obj, change=change, form=form, **kwargs)
        base_url = form.base_fields.get("base_url")
        if base_url is not None:
            base_url.help_text = escape(connector_class(form.kind).base_url_help)
        return form

    def add_view(self, request, form_url="", extra_context=None):
        if self._kind(request) is None:
            return self._choose_kind(request)
        return super().add_view(request, form_url, extra_context)

    def _choose_kind(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": "Add integration: choose the vendor",
            "kinds": [(spec, connector_class(spec.kind).base_url_help) for spec in SPECS],
        }
        return TemplateResponse(request, "admin/connectors/integration/choose_kind.html", context)

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request, Role.ADMIN)
        tenant = form.cleaned_data["tenant"]
        if ids is not None and tenant.pk not in ids:
            raise PermissionDenied("You may only change integrations of your own tenants.")
        fields = form.service_fields()
        if change:
            current = Integration.objects.get(pk=obj.pk)
            saved = integration_update(integration=current, actor=_actor(request), **fields)
        else:
            saved = integration_create(
                tenant=tenant, kind=form.kind, actor=_actor(request), **fields
            )
            for name, value in getattr(saved, "issued_credentials", {}).items():
                self.message_user(
                    request,
                    f"Generated {name} (shown once, store it now): {value}",
                    messages.WARNING,
                )
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

    # --- test connection: the change page's button, and an action on the list -----------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        test = path(
            "<path:object_id>/test/",
            self.admin_site.admin_view(self.test_view),
            name="{}_{}_test".format(*info),
        )
        rotate = path(
            "<path:object_id>/rotate-webhook-secret/",
            self.admin_site.admin_view(self.rotate_view),
            name="{}_{}_rotate".format(*info),
        )
        return [test, rotate, *super().get_urls()]

    def _secret_page(self, request, integration: Integration, secret: str, *, title: str):
        url, warning = webhook_url(integration)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "integration": integration,
            "secret": secret,
            "webhook_url": url,
            "warning": warning,
            "change_url": reverse("admin:connectors_integration_change", args=[integration.pk]),
        }
        response = TemplateResponse(
            request, "admin/connectors/integration/webhook_secret.html", context
        )
        response["Cache-Control"] = "no-store"
        return response

    def rotate_view(self, request, object_id):
        """POST: a new webhook secret, shown once on the page this answers (never stored in
        a message, which would keep it in a cookie or the session)."""
        obj, answer = self._posted_to(request, object_id, "Rotating the webhook secret")
        if answer is not None:
            return answer
        change_url = reverse("admin:connectors_integration_change", args=[obj.pk])
        try:
            secret = integration_rotate_webhook_secret(integration=obj, actor=_actor(request))
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect(change_url)
        return self._secret_page(request, obj, secret, title=f"New webhook secret of {obj}")

    def test_view(self, request, object_id):
        """POST: one cheap read-only call to the vendor with the stored configuration; the
        answer (or the vendor's error: 401, 404, a timeout, an SSRF refusal) as a message."""
        obj, answer = self._posted_to(request, object_id, "Testing a connection")
        if answer is not None:
            return answer
        self._test(request, obj)
        return redirect(reverse("admin:connectors_integration_change", args=[obj.pk]))

    def _posted_to(self, request, object_id, what: str):
        """The integration a button POSTed to, or the answer instead: a redirect for a missing
        one or a GET, 403 without the admin role."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method != "POST":
            return obj, redirect(reverse("admin:connectors_integration_change", args=[obj.pk]))
        if not self.has_change_permission(request, obj):
            raise PermissionDenied(f"{what} needs the admin role.")
        return obj, None

    def _test(self, request, integration: Integration) -> None:
        try:
            answer = integration_test(integration=integration, actor=_actor(request))
            self.message_user(
                request, f"Connection to {integration} works: {answer}", messages.SUCCESS
            )
        except DomainError as exc:
            self.message_user(
                request, f"Connection to {integration} failed: {exc.message}", messages.ERROR
            )

    @admin.action(description="Test the connection to the vendor")
    @role_action(Role.ADMIN)
    def test_connection(self, request, queryset):
        for integration in queryset:
            self._test(request, integration)

    @admin.action(description="Sync now (enqueue what is missing and deliver)")
    @role_action(Role.ADMIN)
    def sync_now(self, request, queryset):
        for integration in queryset:
            counts = integration_sync(integration=integration, actor=_actor(request))
            self.message_user(request, f"{integration}: {counts}", messages.INFO)

    @admin.action(description="Close the circuit breaker (resume deliveries now)")
    @role_action(Role.ADMIN)
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


# Notification rules, the drift report and the inbox: the admin of two-way sync, in its own
# module; imported last because it uses the helpers above.
from apps.connectors import admin_sync  # noqa: E402, F401
