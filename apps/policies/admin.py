"""Admin screens: policies edited with compile validation (the error names the line), immutable
versions with activate/rollback, read-only decisions, and the approver's acceptance queue.
Every change goes through the same services as the API."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from apps.policies import acceptances, services
from apps.policies.models import (
    AcceptanceStatus,
    Decision,
    Policy,
    PolicyAssignment,
    PolicySettings,
    PolicyVersion,
    RiskAcceptance,
)
from apps.tenants.admin_scoping import TenantScopedAdmin, TenantScopedTabularInline, role_action
from apps.tenants.roles import Role
from fixops.platform.errors import DomainError
from fixops.platform.http.ssrf import UnsafeURL, check_url

APPROVER_ROLES = {"add": Role.APPROVER, "change": Role.APPROVER, "delete": Role.ADMIN}


class PolicyForm(forms.ModelForm):
    source = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false"}),
        help_text="Rego v1, package fixops.gate, defining deny, review and warn "
        "(docs/policies.md). Saving adds a new immutable version.",
    )
    parameters = forms.JSONField(required=False, initial=dict, help_text="data.fixops.params")
    note = forms.CharField(required=False, max_length=500, help_text="What changed and why.")
    activate = forms.BooleanField(required=False, initial=True)

    class Meta:
        model = Policy
        fields = ("tenant", "name", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        version = self.instance.active_version if self.instance.pk else None
        if version is not None:
            self.fields["source"].initial = version.source
            self.fields["parameters"].initial = version.parameters
        elif not self.instance.pk:
            source, parameters = services.pack()
            self.fields["source"].initial = source
            self.fields["parameters"].initial = parameters

    def clean(self):
        cleaned = super().clean()
        if "source" in cleaned:
            try:
                services.policy_validate(
                    source=cleaned["source"], parameters=cleaned.get("parameters") or {}
                )
            except DomainError as exc:
                self.add_error("source", exc.message)
        return cleaned


class VersionInline(TenantScopedTabularInline):
    model = PolicyVersion
    fields = ("number", "digest", "note", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-number",)
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Policy)
class PolicyAdmin(TenantScopedAdmin):
    form = PolicyForm
    admin_roles = APPROVER_ROLES
    global_rows = True  # global policies: every tenant may view and assign them, as in the API
    list_display = ("name", "tenant", "active_version", "is_default", "updated_at")
    list_filter = ("is_default", "tenant")
    search_fields = ("name",)
    inlines = [VersionInline]
    readonly_fields = ("active_version", "is_default")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        actor = f"user:{request.user.get_username()}"
        if change:
            services.policy_update(
                policy=obj, actor=actor, name=obj.name, description=obj.description
            )
            version = services.policy_version_add(
                policy=obj,
                source=data["source"],
                parameters=data.get("parameters") or {},
                actor=actor,
                note=data.get("note", ""),
                activate=data.get("activate", False),
            )
            messages.info(request, f"Added version {version.number}.")
        else:
            created = services.policy_create(
                tenant=obj.tenant,
                name=obj.name,
                description=obj.description,
                source=data["source"],
                parameters=data.get("parameters") or {},
                actor=actor,
                note=data.get("note", ""),
            )
            obj.pk = created.pk
            obj.refresh_from_db()


@admin.register(PolicyVersion)
class PolicyVersionAdmin(TenantScopedAdmin):
    tenant_field = "policy__tenant"
    admin_roles = APPROVER_ROLES
    list_display = ("policy", "number", "digest", "note", "created_by", "created_at")
    list_filter = ("policy",)
    readonly_fields = [f.name for f in PolicyVersion._meta.fields]
    actions = ["activate"]

    def has_add_permission(self, request):
        return False  # versions are added by editing the policy (validated there)

    @admin.action(description="Activate the selected version (rollback: pick an older one)")
    @role_action(Role.APPROVER)
    def activate(self, request, queryset):
        for version in queryset.select_related("policy"):
            services.policy_activate(
                policy=version.policy,
                number=version.number,
                actor=f"user:{request.user.get_username()}",
            )
            self.message_user(request, f"{version} is now active.")


@admin.register(PolicyAssignment)
class PolicyAssignmentAdmin(TenantScopedAdmin):
    admin_roles = APPROVER_ROLES
    list_display = ("policy", "tenant", "application", "mode", "created_at")
    list_filter = ("mode", "tenant")
    list_select_related = ("policy", "tenant", "application")
    # Searched, not listed: a select of every policy and application gets long.
    autocomplete_fields = ("tenant", "policy", "application")


class PolicySettingsForm(forms.ModelForm):
    class Meta:
        model = PolicySettings
        fields = (
            "tenant",
            "max_acceptance_days",
            "expected_kinds",
            "feed_max_age_hours",
            "opa_url",
        )

    def clean_opa_url(self):
        url = self.cleaned_data["opa_url"]
        if url:
            try:
                check_url(url)
            except UnsafeURL as exc:
                raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(PolicySettings)
class PolicySettingsAdmin(TenantScopedAdmin):
    form = PolicySettingsForm
    admin_roles = {"add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}
    list_display = ("tenant", "max_acceptance_days", "opa_url")


@admin.register(Decision)
class DecisionAdmin(TenantScopedAdmin):
    list_display = ("id", "application", "outcome", "confidence", "commit", "branch", "created_at")
    # created_at: the dashboard's decisions-per-week chart links here with created_at__gte/lt.
    list_filter = ("outcome", ("created_at", admin.DateFieldListFilter), "tenant")
    search_fields = ("application__name", "commit", "pipeline_run")
    list_select_related = ("application", "tenant")
    exclude = ("input",)
    readonly_fields = (
        "pretty_reasons",
        "pretty_input",
        *(f.name for f in Decision._meta.fields if f.name != "input"),
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions are immutable records

    @admin.display(description="Reasons")
    def pretty_reasons(self, obj):
        return "\n".join(f"{r['level'].upper()} {r['rule']}: {r['message']}" for r in obj.reasons)

    @admin.display(description="Policy input")
    def pretty_input(self, obj):
        return json.dumps(obj.input, indent=2)[:200_000]


@admin.register(RiskAcceptance)
class RiskAcceptanceAdmin(TenantScopedAdmin):
    """The approver's queue: filter on status Requested; approve or reject with the actions."""

    list_display = ("id", "scope", "target", "status", "requested_label", "expires_at")
    list_filter = ("status", "scope", "tenant")
    search_fields = ("vuln_id", "rule_id", "justification", "requested_label")
    readonly_fields = [f.name for f in RiskAcceptance._meta.fields]
    actions = ["approve", "reject", "revoke"]

    def has_add_permission(self, request):
        return False  # requested through the API (validated: scope, bounded expiry)

    @admin.display(description="Target")
    def target(self, obj):
        return obj.vuln_id or f"{obj.rule_id} {obj.path_pattern}".strip() or f"#{obj.finding_id}"

    def _review(self, request, queryset, action, **kw):
        actor = f"user:{request.user.get_username()}"
        for acceptance in queryset:
            try:
                action(acceptance=acceptance, user=request.user, actor=actor, **kw)
                self.message_user(request, f"{acceptance}: done.")
            except DomainError as exc:
                self.message_user(request, f"{acceptance}: {exc.message}", messages.ERROR)

    @admin.action(description="Approve selected requests")
    @role_action(Role.APPROVER)
    def approve(self, request, queryset):
        self._review(
            request,
            queryset.filter(status=AcceptanceStatus.REQUESTED),
            acceptances.acceptance_approve,
        )

    @admin.action(description="Reject selected requests")
    @role_action(Role.APPROVER)
    def reject(self, request, queryset):
        note = f"rejected in the admin on {timezone.now():%Y-%m-%d}"
        self._review(
            request,
            queryset.filter(status=AcceptanceStatus.REQUESTED),
            acceptances.acceptance_reject,
            note=note,
        )

    @admin.action(description="Revoke selected approved acceptances")
    @role_action(Role.APPROVER)
    def revoke(self, request, queryset):
        self._review(
            request,
            queryset.filter(status=AcceptanceStatus.APPROVED),
            acceptances.acceptance_revoke,
        )
