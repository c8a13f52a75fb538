"""The triage pages for findings, composed: the findings app's FindingAdmin (read-only facts,
assign actions, transitions) with the list ordered by risk and filtered to what needs work,
columns that fit 1366 px, the triage filters (filters.py), bulk actions (actions.py), and a
change page that reads intel, tickets and acceptances (apps/workspace/triage.py)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.connectors.selectors import finding_links
from apps.findings.admin import FindingAdmin, assign_to, assign_to_me, transition_action
from apps.findings.comments import comment_add
from apps.findings.models import Finding, SlaState
from apps.findings.owners import finding_assign, owner_choose
from apps.findings.selectors import findings_sighted
from apps.findings.sla import with_state
from apps.workspace.admin.actions import mark_false_positive, open_tickets, request_acceptance
from apps.workspace.admin.advice import AdvicePanelMixin
from apps.workspace.admin.filters import TRIAGE_FILTERS
from apps.workspace.admin.tenant import request_tenant
from apps.workspace.triage import finding_page
from fixops.platform.errors import DomainError

SLA_LABELS = dict(SlaState.choices)
TITLE_SHOWN = 90


class TriageChangeList(ChangeList):
    """Fetches the tickets of the page's findings in two queries (not one per row)."""

    def get_results(self, request):
        super().get_results(request)
        rows = list(self.result_list)
        tenant = request_tenant(request)
        links = {}
        if tenant is not None:
            links = finding_links(tenant=tenant, findings=rows)
        for finding in rows:
            finding.ticket_links = links.get(finding.pk, [])


class FindingTriageAdmin(AdvicePanelMixin, FindingAdmin):
    change_form_template = "admin/findings/finding/triage_change_form.html"
    change_list_template = "admin/findings/finding/triage_change_list.html"
    ordering = ("-risk_score", "-id")
    list_display = (
        "severity_badge",
        "title_cell",
        "application_name",
        "signals",
        "risk",
        "sla",
        "status",
        "owner",
        "tickets",
    )
    list_display_links = ("title_cell",)
    list_filter = (*TRIAGE_FILTERS, "tenant")
    list_per_page = 50
    # Counts per filter choice would be a COUNT per choice over the whole tenant.
    show_facets = admin.ShowFacets.NEVER
    inlines = []  # the page renders occurrences, history and comments itself
    actions = [
        assign_to_me,
        assign_to,
        request_acceptance,
        mark_false_positive,
        open_tickets,
        transition_action("triaged", "Mark selected findings triaged"),
        transition_action("in_progress", "Mark selected findings in progress"),
        transition_action("verified", "Mark selected fixed findings verified"),
    ]
    fieldsets = (
        ("Finding", {"fields": ("title", "message", "kind", "tool", "rule_id", "application")}),
        (
            "Vulnerability",
            {"fields": ("vuln_id", "aliases", "cwe", "cvss", "vex_state", "vex_justification")},
        ),
        (
            "Where",
            {"fields": ("path", "line", "resource", "component_purl", "component_version")},
        ),
        ("Risk", {"fields": ("risk_score", "epss", "kev_label", "ssvc")}),
        (
            "Lifecycle",
            {
                "classes": ("collapse",),
                "fields": (
                    "first_seen",
                    "last_seen",
                    "closed_at",
                    "reopen_count",
                    "due_at",
                    "sla_started_at",
                    "sla_paused_at",
                    "dedup_strategy",
                    "dedup_key",
                ),
            },
        ),
    )

    def save_model(self, request, obj, form, change):
        # Every field is read-only (facts, or columns the services move): a full save here
        # would rewrite the row outside the findings writer, over whatever it wrote since.
        return

    def save_related(self, request, form, formsets, change):
        return

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "kev_label"]

    @admin.display(description="in CISA KEV")
    def kev_label(self, finding: Finding) -> str:
        # Words, not Django's boolean icons (a red mark on every finding not in KEV).
        return "yes: exploited in the wild" if finding.kev else "no"

    def changelist_view(self, request, extra_context=None):
        # The list needs the width at 1366 px: no app sidebar here.
        extra = {"is_nav_sidebar_enabled": False, "title": "Findings", **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def get_changelist(self, request, **kwargs):
        return TriageChangeList

    def get_object(self, request, object_id, from_field=None):
        finding = super().get_object(request, object_id, from_field)
        if finding is not None:  # last_seen of a repeated scan is on its stream, not the row
            findings_sighted([finding])
        return finding

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        tenant = request_tenant(request)
        return with_state(queryset, tenant_id=tenant.pk if tenant else None)

    def get_fields(self, request, obj=None):
        return [field for _, options in self.fieldsets for field in options["fields"]]

    # --- columns ------------------------------------------------------------------------
    @admin.display(description="sev", ordering="severity")
    def severity_badge(self, finding: Finding) -> str:
        return format_html(
            '<span class="fx-badge fx-sev fx-sev-{}">{}</span>',
            finding.severity,
            finding.get_severity_display(),
        )

    @admin.display(description="finding")
    def title_cell(self, finding: Finding) -> str:
        title = finding.title or "-"
        shown = title if len(title) <= TITLE_SHOWN else title[: TITLE_SHOWN - 1] + "…"
        return format_html('<span class="fx-title" title="{}">{}</span>', title, shown)

    @admin.display(description="application", ordering="application__name")
    def application_name(self, finding: Finding) -> str:
        return finding.application.name

    @admin.display(description="signals")
    def signals(self, finding: Finding) -> str:
        badges = []
        if finding.kev:
            badges.append(("fx-badge fx-kev", "KEV"))
        if finding.ssvc:
            decision = finding.ssvc.rstrip("*").lower()
            badges.append((f"fx-badge fx-ssvc fx-ssvc-{decision}", finding.ssvc))
        if finding.epss is not None:
            badges.append(("fx-badge fx-epss", f"EPSS {finding.epss * 100:.1f}%"))
        if not badges:
            return ""
        return format_html_join(" ", '<span class="{}">{}</span>', badges)

    @admin.display(description="risk", ordering="risk_score")
    def risk(self, finding: Finding) -> str:
        if finding.risk_score is None:
            return "-"
        return format_html('<span class="fx-risk">{}</span>', f"{finding.risk_score:.1f}")

    @admin.display(description="SLA", ordering="due_at")
    def sla(self, finding: Finding) -> str:
        state = getattr(finding, "sla_state", "")
        if not state:
            return "-"
        due = f"{finding.due_at:%Y-%m-%d}" if finding.due_at else "no deadline"
        return format_html(
            '<span class="fx-badge fx-sla fx-sla-{}">{}</span> <span class="fx-due">{}</span>',
            state,
            SLA_LABELS.get(state, state),
            due,
        )

    @admin.display(description="tickets")
    def tickets(self, finding: Finding) -> str:
        links = getattr(finding, "ticket_links", [])
        return _ticket_links(links[:2]) if links else "-"

    # --- the change page ----------------------------------------------------------------
    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path(
                "<path:object_id>/comment/",
                self.admin_site.admin_view(self.comment_view),
                name=f"{info}_comment",
            ),
            path(
                "<path:object_id>/assign-to-me/",
                self.admin_site.admin_view(self.assign_me_view),
                name=f"{info}_assign_me",
            ),
        ]
        return own + self.advice_urls() + super().get_urls()

    def _advice_subject(self, request, object_id):
        return self._own_finding(request, object_id)[0]

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            tenant = obj.tenant
            context.update(finding_page(tenant=tenant, finding=obj))
            context.update(
                {
                    "finding": obj,
                    "title": f"Finding #{obj.pk}",
                    "subtitle": None,
                    "is_nav_sidebar_enabled": False,
                    "sla_label": SLA_LABELS.get(getattr(obj, "sla_state", ""), ""),
                    "may_act": self.has_change_permission(request, obj),
                    "ticket_html": _ticket_links(context["tickets"]),
                    "show_save": False,
                    "show_save_and_continue": False,
                    "show_save_and_add_another": False,
                    **self.advice_context(request, obj),
                }
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def _own_finding(self, request, object_id):
        finding = get_object_or_404(self.get_queryset(request), pk=object_id)
        change = reverse("admin:findings_finding_change", args=[finding.pk])
        return finding, change

    def comment_view(self, request, object_id):
        """POST: add a comment (comment_add, audited); GET goes back to the finding."""
        finding, change = self._own_finding(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(change)
        if not self.has_change_permission(request, finding):
            self.message_user(request, "Commenting needs the analyst role.", messages.ERROR)
            return HttpResponseRedirect(change)
        try:
            comment_add(
                tenant=finding.tenant,
                finding=finding,
                body=request.POST.get("body", ""),
                actor=f"user:{request.user.get_username()}",
                author=request.user,
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, "Comment added.", messages.SUCCESS)
        return HttpResponseRedirect(change + "#comments")

    def assign_me_view(self, request, object_id):
        """POST: make the signed-in user the finding's owner (finding_assign, audited)."""
        finding, change = self._own_finding(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(change)
        if not self.has_change_permission(request, finding):
            self.message_user(request, "Assigning needs the analyst role.", messages.ERROR)
            return HttpResponseRedirect(change)
        try:
            owner = owner_choose(tenant=finding.tenant, me=request.user)
            finding_assign(
                tenant=finding.tenant,
                finding=finding,
                owner=owner,
                actor=f"user:{request.user.get_username()}",
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, "The finding is yours.", messages.SUCCESS)
        return HttpResponseRedirect(change)


def _ticket_links(links) -> str:
    """Ticket keys as links (only http(s) URLs are linked), vendor and state in the title."""
    parts = []
    for link in links:
        label = link.remote_key or link.remote_id or link.reference
        hint = f"{link.integration.get_kind_display()} · {link.remote_status or link.state}"
        url = link.remote_url if link.remote_url.startswith(("https://", "http://")) else ""
        if url:
            parts.append(
                format_html(
                    '<a class="fx-ticket" href="{}" title="{}" rel="noopener noreferrer">{}</a>',
                    url,
                    hint,
                    label,
                )
            )
        else:
            parts.append(format_html('<span class="fx-ticket" title="{}">{}</span>', hint, label))
    return format_html_join(" ", "{}", ((p,) for p in parts))


# Replace the findings app's page with the composed one (apps.workspace loads last).
if admin.site.is_registered(Finding):
    admin.site.unregister(Finding)
admin.site.register(Finding, FindingTriageAdmin)
