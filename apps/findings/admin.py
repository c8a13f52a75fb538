from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from apps.findings.counts import result_counts
from apps.findings.models import (
    Application,
    Component,
    Finding,
    FindingEvent,
    Occurrence,
    Scan,
    SlaPolicy,
    Stream,
)
from apps.findings.services import finding_transition, source_roots_clean
from apps.findings.sla import POLICY_FIELDS, policy_values_check, sla_policy_update
from apps.findings.streams import stream_retire
from apps.tenants.admin_scoping import TenantScopedAdmin, TenantScopedTabularInline
from apps.tenants.roles import Role
from fixops.platform.errors import DomainError


class CappedCountPaginator(Paginator):
    """Counts at most `cap` rows, so a changelist over millions of findings never runs a full
    COUNT(*) (the idea of Healthchecks' PingsPaginator); narrow with filters to page deeper."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap].count()


@admin.register(Application)
class ApplicationAdmin(TenantScopedAdmin):
    list_display = ("name", "tenant", "criticality", "internet_exposed", "data_classification")
    list_filter = ("criticality", "internet_exposed", "data_classification", "tenant")
    search_fields = ("name", "repo_url")
    list_select_related = ("tenant",)

    def save_model(self, request, obj, form, change):
        # Stored as the API stores them (validated by the model field, then normalised).
        obj.source_roots = source_roots_clean(obj.source_roots)
        super().save_model(request, obj, form, change)


@admin.register(Scan)
class ScanAdmin(TenantScopedAdmin):
    list_display = (
        "id",
        "application",
        "format",
        "tool_name",
        "branch",
        "target",
        "status",
        "results_summary",
        "created_at",
    )
    list_filter = ("status", "format", ("target", admin.EmptyFieldListFilter), "tenant")
    search_fields = ("application__name", "commit", "pipeline_run", "sha256", "target")
    list_select_related = ("application", "tenant")
    readonly_fields = ["results_summary", *(f.name for f in Scan._meta.fields)]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # scans arrive through the API, which validates and deduplicates them

    @admin.display(description="results")
    def results_summary(self, scan: Scan) -> str:
        """What became of the report's results; lost ones are listed under Skipped."""
        if not scan.counts:
            return "-"
        c = result_counts(scan.counts)
        return (
            f"{c['results']} results: {c['findings']} findings, {c['lost']} lost, "
            f"{c['suppressed']} suppressed"
        )


class OccurrenceInline(TenantScopedTabularInline):
    model = Occurrence
    fields = (
        "tool",
        "branch",
        "target",
        "path",
        "original_path",
        "line",
        "suppressed",
        "last_seen",
        "retracted_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False


class FindingEventInline(TenantScopedTabularInline):
    model = FindingEvent
    fields = ("created_at", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


def _transition_action(status: str, label: str):
    @admin.action(description=label)
    def action(modeladmin, request, queryset):
        done, refused = 0, []
        for finding in queryset.select_related("tenant"):
            try:
                finding_transition(
                    tenant=finding.tenant,
                    finding=finding,
                    to_status=status,
                    actor=f"user:{request.user.get_username()}",
                    reason="admin bulk action",
                )
                done += 1
            except DomainError as exc:
                refused.append(f"#{finding.pk}: {exc.message}")
        modeladmin.message_user(request, f"{done} finding(s) moved to {status}.", messages.SUCCESS)
        if refused:
            modeladmin.message_user(request, "; ".join(refused[:20]), messages.WARNING)

    action.__name__ = f"mark_{status}"
    return action


@admin.register(Finding)
class FindingAdmin(TenantScopedAdmin):
    list_display = (
        "id",
        "title",
        "risk_score",
        "ssvc",
        "kev",
        "severity",
        "status",
        "kind",
        "application",
        "vuln_id",
        "last_seen",
    )
    list_filter = ("status", "severity", "kind", "ssvc", "kev", "dedup_strategy", "tenant")
    search_fields = ("title", "vuln_id", "rule_id", "path", "component_purl")
    list_select_related = ("application", "tenant")
    readonly_fields = (
        # Status moves only through the writer (the actions below: finding_transition), so
        # each change gets its FindingEvent, tickets and `finding.status` audit row.
        "status",
        "dedup_key",
        "dedup_strategy",
        "first_seen",
        "last_seen",
        "first_scan",
        "last_scan",
        "closed_at",
        "closed_by_scan",
        "reopen_count",
        "risk_score",
        "ssvc",
        "epss",
        "kev",
        "risk_explanation",
    )
    raw_id_fields = ("application",)
    inlines = [OccurrenceInline, FindingEventInline]
    actions = [
        _transition_action("triaged", "Mark selected findings triaged"),
        _transition_action("in_progress", "Mark selected findings in progress"),
        _transition_action("false_positive", "Mark selected findings false positive"),
        _transition_action("verified", "Mark selected fixed findings verified"),
    ]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("message", "cvss")

    def has_add_permission(self, request):
        return False


@admin.register(Component)
class ComponentAdmin(TenantScopedAdmin):
    list_display = ("name", "version", "purl", "application", "last_seen")
    search_fields = ("name", "purl")
    list_filter = ("tenant",)
    list_select_related = ("application",)
    readonly_fields = [f.name for f in Component._meta.fields]
    paginator = CappedCountPaginator
    show_full_result_count = False


@admin.action(description="Retire selected scan streams (retract their occurrences)")
def retire_streams(modeladmin, request, queryset):
    done, closed, refused = 0, 0, []
    for stream in queryset.select_related("tenant", "application"):
        try:
            result = stream_retire(
                tenant=stream.tenant,
                application=stream.application,
                tool=stream.tool,
                branch=stream.branch,
                target=stream.target,
                actor=f"user:{request.user.get_username()}",
            )
        except DomainError as exc:
            refused.append(f"#{stream.pk}: {exc.message}")
            continue
        done += 1
        closed += result["findings_closed"]
    modeladmin.message_user(
        request, f"{done} stream(s) retired; {closed} finding(s) fixed.", messages.SUCCESS
    )
    if refused:
        modeladmin.message_user(request, "; ".join(refused[:20]), messages.WARNING)


@admin.register(Stream)
class StreamAdmin(TenantScopedAdmin):
    """Scan streams (application, tool, branch, target): when each last reported."""

    list_display = (
        "application",
        "tool",
        "branch",
        "target",
        "last_scan",
        "last_scan_at",
        "retired_at",
    )
    list_filter = ("tool", ("retired_at", admin.EmptyFieldListFilter), "tenant")
    search_fields = ("application__name", "tool", "branch", "target")
    list_select_related = ("application", "tenant")
    readonly_fields = [f.name for f in Stream._meta.fields]
    actions = [retire_streams]

    def has_add_permission(self, request):
        return False  # streams are made by imports


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = ("tenant", *POLICY_FIELDS)
        help_texts = {
            "days": 'Days to fix per severity, e.g. {"critical": 7, "high": 30}; a severity '
            "left out has no deadline.",
            "kev_days": "Days for a finding in CISA's KEV catalog (the strictest deadline wins).",
            "ssvc_days": 'Days per SSVC decision, e.g. {"Act": 7, "Attend": 30}.',
        }

    def clean(self):
        cleaned = super().clean()
        try:
            policy_values_check({name: cleaned.get(name) for name in POLICY_FIELDS})
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from None
        return cleaned


@admin.register(SlaPolicy)
class SlaPolicyAdmin(TenantScopedAdmin):
    form = SlaPolicyForm
    admin_roles = {"add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}
    list_display = ("tenant", "days", "kev_days", "ssvc_days", "due_soon_days", "restart_on_expiry")
    list_select_related = ("tenant",)

    def save_model(self, request, obj, form, change):
        # Through the service: every finding's due_at follows, audited as sla.policy_update.
        policy = sla_policy_update(
            tenant=obj.tenant,
            actor=f"user:{request.user.get_username()}",
            **{name: form.cleaned_data[name] for name in POLICY_FIELDS},
        )
        obj.pk = policy.pk

    def has_delete_permission(self, request, obj=None):
        return False  # a tenant without a policy gets the defaults; edit it instead
