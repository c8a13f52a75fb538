import re

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.functional import cached_property

from apps.findings.admin_scan import (
    LostResultsFilter,
    lost_count_html,
    results_short_text,
    skipped_table_html,
)
from apps.findings.counts import result_counts
from apps.findings.dedup import STRATEGIES
from apps.findings.models import (
    Application,
    Component,
    Finding,
    FindingComment,
    FindingEvent,
    Occurrence,
    Scan,
    SlaPolicy,
    Stream,
)
from apps.findings.owners import BULK_MAX, finding_assign_bulk, owner_choose
from apps.findings.services import finding_transition, source_roots_clean
from apps.findings.sla import (
    POLICY_FIELDS,
    SSVC_DECISIONS,
    policy_values_check,
    sla_policy_update,
)
from apps.findings.streams import stream_retire
from apps.tenants.admin_scoping import TenantScopedAdmin, TenantScopedTabularInline
from apps.tenants.roles import Role
from apps.tenants.selectors import team_list, tenant_member_list
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
    # Narrow enough for 1280 px beside the side bar and filters: the tool is in the title,
    # the format a filter; what was lost comes before the rest of the counts.
    list_display = ("__str__", "target", "status", "lost_count", "results_short", "created")
    list_filter = (
        "status",
        "format",
        LostResultsFilter,
        ("target", admin.EmptyFieldListFilter),
        "tenant",
    )
    search_fields = ("application__name", "commit", "pipeline_run", "sha256", "target")
    list_select_related = ("application", "tenant")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "tenant",
                    "application",
                    ("tool_name", "tool_version", "format"),
                    ("branch", "commit", "target"),
                    "pipeline_run",
                    ("status", "progress"),
                    ("created_at", "finished_at", "uploaded_by"),
                )
            },
        ),
        ("What became of the results", {"fields": ("results_summary", "skipped_table", "error")}),
        (
            "Details",
            {
                "classes": ("collapse",),
                "fields": (
                    "counts",
                    "noise",
                    "sha256",
                    "size_bytes",
                    "source_root",
                    "upload",
                    ("lease_owner", "lease_expires_at"),
                    ("queued_at", "requeues"),
                ),
            },
        ),
    )
    readonly_fields = ["results_summary", "skipped_table", *(f.name for f in Scan._meta.fields)]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # scans arrive through the API, which validates and deduplicates them

    @admin.display(description="results")
    def results_summary(self, scan: Scan) -> str:
        """What became of the report's results; lost ones are listed below."""
        if not scan.counts:
            return "-"
        c = result_counts(scan.counts)
        return (
            f"{c['results']} results: {c['findings']} findings, {c['lost']} lost, "
            f"{c['suppressed']} suppressed"
        )

    @admin.display(description="lost")
    def lost_count(self, scan: Scan) -> str:
        return lost_count_html(scan)

    @admin.display(description="results")
    def results_short(self, scan: Scan) -> str:
        return results_short_text(scan)

    @admin.display(description="created", ordering="created_at")
    def created(self, scan: Scan) -> str:
        return date_format(timezone.localtime(scan.created_at), "M j, H:i")

    @admin.display(description="results not imported")
    def skipped_table(self, scan: Scan) -> str:
        return skipped_table_html(scan)


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


class FindingCommentInline(TenantScopedTabularInline):
    """The finding's comment thread, read-only (comments are written through the API, which
    audits them and keeps edits to their authors)."""

    model = FindingComment
    fields = ("created_at", "author_label", "source", "remote_author", "body", "edited_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "comment"

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Whoever may see the finding reads its thread (Django's model permissions, which no
        # tenant role grants, would hide it from every tenant's staff).
        return self.admin_site._registry[self.parent_model].has_view_permission(request, obj)


def _assign(modeladmin, request, queryset, owner_of) -> None:
    """Assign the selected findings (one tenant, at most BULK_MAX) to `owner_of(tenant)`."""
    rows = list(queryset.select_related("tenant"))
    tenants = {finding.tenant_id: finding.tenant for finding in rows}
    if len(tenants) != 1 or len(rows) > BULK_MAX:
        modeladmin.message_user(
            request,
            f"Assign findings of one tenant at a time, at most {BULK_MAX}.",
            messages.ERROR,
        )
        return
    tenant = next(iter(tenants.values()))
    try:
        owner = owner_of(tenant)
        changed = finding_assign_bulk(
            tenant=tenant,
            finding_ids=[finding.pk for finding in rows],
            owner=owner,
            actor=f"user:{request.user.get_username()}",
        )
    except DomainError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return
    who = owner.ref()["name"] if owner.ref() else "nobody"
    modeladmin.message_user(request, f"{changed} finding(s) assigned to {who}.", messages.SUCCESS)


@admin.action(description="Assign selected findings to me")
def assign_to_me(modeladmin, request, queryset):
    _assign(
        modeladmin, request, queryset, lambda tenant: owner_choose(tenant=tenant, me=request.user)
    )


class AssignForm(forms.Form):
    owner = forms.ChoiceField(help_text="A member or a team of the findings' tenant.")

    def __init__(self, *args, tenant, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        users = [
            (f"user:{u.get_username()}", u.get_username())
            for u in tenant_member_list(tenant=tenant)
        ]
        teams = [(f"team:{t.pk}", t.name) for t in team_list(tenant=tenant)]
        self.fields["owner"].choices = [
            ("none", "Nobody (unassign)"),
            ("People", users),
            ("Teams", teams),
        ]


def _owner_from_choice(value: str):
    kind, _, ref = value.partition(":")

    def owner_of(tenant):
        if kind == "user":
            return owner_choose(tenant=tenant, username=ref)
        if kind == "team":
            return owner_choose(tenant=tenant, team_id=int(ref))
        return owner_choose(tenant=tenant)

    return owner_of


@admin.action(description="Assign selected findings to…")
def assign_to(modeladmin, request, queryset):
    findings = list(queryset.select_related("tenant"))
    tenants = {finding.tenant_id: finding.tenant for finding in findings}
    if len(tenants) != 1:
        modeladmin.message_user(request, "Assign findings of one tenant at a time.", messages.ERROR)
        return None
    tenant = next(iter(tenants.values()))
    if "apply" in request.POST:
        form = AssignForm(request.POST, tenant=tenant)
        if form.is_valid():
            _assign(modeladmin, request, queryset, _owner_from_choice(form.cleaned_data["owner"]))
            return None
    else:
        form = AssignForm(tenant=tenant)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Assign findings",
        "opts": modeladmin.model._meta,
        "findings": findings,
        "tenant": tenant,
        "form": form,
    }
    return TemplateResponse(request, "admin/findings/finding/assign.html", context)


def transition_action(status: str, label: str):
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


VULN_ID = re.compile(r"(?i)(CVE-\d{4}-\d{4,}|GHSA(-[0-9a-z]{4}){3})")


def _known_values(field: str, title: str, values) -> type[admin.SimpleListFilter]:
    """A list filter over a column's known values. Django's default for a field without
    choices runs SELECT DISTINCT over every row of the tenant (1.3 s at 1M findings) on each
    page; the parameter keeps Django's name (`<field>__exact`), so links stay the same."""

    class KnownValues(admin.SimpleListFilter):
        parameter_name = f"{field}__exact"

        def lookups(self, request, model_admin):
            return [(value, value) for value in values]

        def queryset(self, request, queryset):
            value = self.value()
            return queryset if value in (None, "") else queryset.filter(**{field: value})

    KnownValues.title = title
    KnownValues.__name__ = f"{field.title()}Filter"
    return KnownValues


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
        "owner",
        "vuln_id",
        "last_seen",
    )
    list_filter = (
        "status",
        "severity",
        "kind",
        _known_values("ssvc", "SSVC", SSVC_DECISIONS),
        "kev",
        _known_values("dedup_strategy", "dedup strategy", STRATEGIES),
        "tenant",
    )
    search_fields = ("title", "vuln_id", "rule_id", "path", "component_purl")
    list_select_related = ("application", "tenant", "owner_user", "owner_team")
    inlines = [OccurrenceInline, FindingEventInline, FindingCommentInline]
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = [
        assign_to_me,
        assign_to,
        transition_action("triaged", "Mark selected findings triaged"),
        transition_action("in_progress", "Mark selected findings in progress"),
        transition_action("false_positive", "Mark selected findings false positive"),
        transition_action("verified", "Mark selected fixed findings verified"),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Every column is a scanner fact or moves only through a service (the actions below:
        # status through the writer, owner through finding_assign_bulk, both audited); a hand
        # edit of severity would skip the writer, so due_at would go stale.
        return [field.name for field in Finding._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("message", "cvss")

    def get_search_results(self, request, queryset, search_term):
        # A vulnerability id is looked up on the (tenant, vuln_id) index; the free-text
        # search (ILIKE over five columns) reads every finding of the tenant (seconds at 1M).
        term = search_term.strip()
        if VULN_ID.fullmatch(term):
            return queryset.filter(vuln_id=term.upper()), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="owner")
    def owner(self, finding: Finding) -> str:
        owner = finding.owner
        if owner is None:
            return "-"
        return owner["name"] if owner["type"] == "user" else f"{owner['name']} (team)"

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
    list_select_related = ("application", "tenant", "last_scan__application")
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
