"""The decision page for GRC: replaces the policies app's read-only Decision admin by a composed
page (apps/workspace/decisions.py) with verify and download buttons for its evidence, and a
changelist that reads: outcome badge, application, short commit, branch, confidence, time."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.evidence.services import EvidenceTampered, evidence_envelope, evidence_verify
from apps.evidence.storage import StorageError
from apps.findings.admin import CappedCountPaginator
from apps.policies.admin import DecisionAdmin
from apps.policies.models import Decision
from apps.workspace.admin.advice import AdvicePanelMixin
from apps.workspace.decisions import decision_evidence, decision_page, verification_rows
from fixops.platform.errors import DomainError

admin.site.unregister(Decision)


@admin.register(Decision)
class DecisionPageAdmin(AdvicePanelMixin, DecisionAdmin):
    list_display = (
        "outcome_badge",
        "application",
        "short_commit",
        "branch",
        "confidence_percent",
        "created_at",
    )
    list_display_links = ("outcome_badge",)
    # The dashboard links here with ?outcome__exact=…&created_at__gte=…&created_at__lt=…: the
    # date filter owns those two parameters, so the links stay valid lookups.
    list_filter = ("outcome", "application", ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"
    search_fields = ("application__name", "commit", "branch", "pipeline_run")
    list_select_related = ("application",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    page_template = "admin/workspace/decision_page.html"
    advice_task = "brief"

    def get_queryset(self, request):
        # The input and result documents are large; the page reads them from its own row.
        return super().get_queryset(request).defer("input", "result")

    # --- the changelist's columns --------------------------------------------------------
    @admin.display(description="Outcome", ordering="outcome")
    def outcome_badge(self, obj) -> str:
        return format_html(
            '<span class="fixops-outcome fixops-outcome-{}">{}</span>',
            obj.outcome.lower(),
            obj.get_outcome_display(),
        )

    @admin.display(description="Commit", ordering="commit")
    def short_commit(self, obj) -> str:
        return obj.commit[:7] or "—"

    @admin.display(description="Confidence", ordering="confidence")
    def confidence_percent(self, obj) -> str:
        return f"{obj.confidence:.0%}"

    # --- the page ------------------------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(self.verify_view),
                name="{}_{}_verify".format(*info),
            ),
            path(
                "<path:object_id>/evidence/",
                self.admin_site.admin_view(self.download_view),
                name="{}_{}_evidence".format(*info),
            ),
        ]
        return own + self.advice_urls() + super().get_urls()

    def _decision(self, request, object_id: str) -> Decision | None:
        """The decision if it is in the request's tenant and it may view it, else None."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return None
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def _advice_subject(self, request, object_id: str) -> Decision:
        decision = self._decision(request, object_id)
        if decision is None:
            raise Http404
        return decision

    def _missing(self, request, object_id: str):
        return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)

    def _page(self, request, decision: Decision, **extra):
        context = {
            **self.admin_site.each_context(request),
            **decision_page(decision=decision),
            **self.advice_context(request, decision),
            **extra,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": str(decision),
            "subtitle": None,
            "original": decision,
            "has_view_permission": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.page_template, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        decision = self._decision(request, object_id)
        if decision is None:
            return self._missing(request, object_id)
        return self._page(request, decision)

    def verify_view(self, request, object_id):
        """Verify the decision's evidence now (read, decrypt, digests, signature, subjects)
        and show the page with the result of each check."""
        decision = self._decision(request, object_id)
        if decision is None:
            return self._missing(request, object_id)
        bundle = decision_evidence(decision)
        if bundle is None:
            messages.error(request, "This decision has no evidence bundle to verify.")
            return redirect(self._change_url(decision))
        report = evidence_verify(bundle)
        return self._page(request, decision, verification=report, checks=verification_rows(report))

    def download_view(self, request, object_id):
        """The signed DSSE envelope, bytes as signed (the evidence API's bundle download)."""
        decision = self._decision(request, object_id)
        if decision is None:
            return self._missing(request, object_id)
        bundle = decision_evidence(decision)
        if bundle is None:
            messages.error(request, "This decision has no evidence bundle to download.")
            return redirect(self._change_url(decision))
        try:
            envelope = evidence_envelope(bundle)
        except (EvidenceTampered, StorageError, DomainError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            messages.error(request, f"The evidence cannot be downloaded: {message}")
            return redirect(self._change_url(decision))
        response = HttpResponse(envelope, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{bundle.file_name}"'
        response["ETag"] = f'"sha256:{bundle.envelope_digest}"'
        return response

    def _change_url(self, decision: Decision) -> str:
        return reverse(
            f"{self.admin_site.name}:policies_decision_change",
            args=[decision.pk],
            current_app=self.admin_site.name,
        )
