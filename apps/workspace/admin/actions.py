"""Bulk actions of the triage list, each through the service that owns the change (and its
audit): a risk-acceptance request per finding (apps/policies/acceptances.py; the findings
stay as they are until an approver approves), false positive with a reason
(`finding_transition`), and tickets opened or synced through the outbox
(apps/connectors/services.py `findings_ticket_request`). Errors become admin messages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone

from apps.connectors.services import findings_ticket_request
from apps.findings.models import FindingStatus
from apps.findings.services import finding_transition
from apps.policies.acceptances import acceptance_request
from apps.policies.inputs import settings_for
from apps.policies.models import AcceptanceScope
from fixops.platform.errors import DomainError

# Findings one intermediate page handles (each gets its own request or transition).
ACTION_MAX = 200


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _one_tenant(modeladmin, request, queryset):
    """The selected findings and their tenant, or None after an error message."""
    findings = list(queryset.select_related("tenant", "application")[: ACTION_MAX + 1])
    tenants = {finding.tenant_id: finding.tenant for finding in findings}
    if len(tenants) != 1 or len(findings) > ACTION_MAX:
        modeladmin.message_user(
            request,
            f"Select findings of one tenant at a time, at most {ACTION_MAX}.",
            messages.ERROR,
        )
        return None, None
    return findings, next(iter(tenants.values()))


def _step(modeladmin, request, *, action: str, title: str, findings, tenant, form, submit):
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "findings": findings,
        "tenant": tenant,
        "form": form,
        "action_name": action,
        "submit_label": submit,
    }
    return TemplateResponse(request, "admin/findings/finding/action_form.html", context)


class AcceptanceForm(forms.Form):
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "id": "acceptance-justification"}),
        max_length=5000,
        help_text="Why the risk is acceptable, and what mitigates it. The approver reads this.",
    )
    expires_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date", "id": "acceptance-expires"}),
        help_text="The acceptance ends at the end of this day (UTC).",
    )

    def __init__(self, *args, max_days: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_days = max_days
        self.fields["expires_on"].help_text += f" At most {max_days} days from today."
        if not self.is_bound:
            default = timezone.now().date() + timedelta(days=min(30, max_days))
            self.initial["expires_on"] = default

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        today = timezone.now().date()
        if day < today:
            raise forms.ValidationError("The expiry must be today or later.")
        if day > today + timedelta(days=self.max_days):
            raise forms.ValidationError(
                f"At most {self.max_days} days from today (the tenant's policy)."
            )
        return day

    def expires_at(self) -> datetime:
        day = self.cleaned_data["expires_on"]
        end = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        # The tenant's limit counts from now: the last allowed day ends no later than it.
        return min(end, timezone.now() + timedelta(days=self.max_days))


@admin.action(description="Request risk acceptance for selected findings…")
def request_acceptance(modeladmin, request, queryset):
    findings, tenant = _one_tenant(modeladmin, request, queryset)
    if findings is None:
        return None
    max_days = settings_for(tenant).max_acceptance_days
    form = AcceptanceForm(request.POST if "apply" in request.POST else None, max_days=max_days)
    if "apply" in request.POST and form.is_valid():
        made = []
        try:
            for finding in findings:
                acceptance = acceptance_request(
                    tenant=tenant,
                    user=request.user,
                    actor=_actor(request),
                    scope=AcceptanceScope.FINDING,
                    justification=form.cleaned_data["justification"],
                    expires_at=form.expires_at(),
                    finding=finding,
                )
                made.append(acceptance.pk)
        except DomainError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
        if made:
            modeladmin.message_user(
                request,
                f"{len(made)} risk acceptance request(s) opened for an approver; the findings "
                "stay as they are until one is approved.",
                messages.SUCCESS,
            )
        return None
    return _step(
        modeladmin,
        request,
        action="request_acceptance",
        title="Request risk acceptance",
        findings=findings,
        tenant=tenant,
        form=form,
        submit="Request acceptance",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "id": "false-positive-reason"}),
        max_length=2000,
        help_text="Why the scanner is wrong here; recorded in the history and the audit log.",
    )


@admin.action(description="Mark selected findings false positive…")
def mark_false_positive(modeladmin, request, queryset):
    findings, tenant = _one_tenant(modeladmin, request, queryset)
    if findings is None:
        return None
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done, refused = 0, []
        for finding in findings:
            try:
                finding_transition(
                    tenant=tenant,
                    finding=finding,
                    to_status=FindingStatus.FALSE_POSITIVE,
                    actor=_actor(request),
                    reason=form.cleaned_data["reason"].strip(),
                )
                done += 1
            except DomainError as exc:
                refused.append(f"#{finding.pk}: {exc.message}")
        modeladmin.message_user(
            request, f"{done} finding(s) marked false positive.", messages.SUCCESS
        )
        if refused:
            modeladmin.message_user(request, "; ".join(refused[:20]), messages.WARNING)
        return None
    return _step(
        modeladmin,
        request,
        action="mark_false_positive",
        title="Mark findings false positive",
        findings=findings,
        tenant=tenant,
        form=form,
        submit="Mark false positive",
    )


@admin.action(description="Open or sync tickets for selected findings")
def open_tickets(modeladmin, request, queryset):
    findings, tenant = _one_tenant(modeladmin, request, queryset)
    if findings is None:
        return
    try:
        result = findings_ticket_request(
            tenant=tenant, finding_ids=[f.pk for f in findings], actor=_actor(request)
        )
    except DomainError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return
    note = f"{result['queued']} ticket message(s) queued for {result['findings']} finding(s)"
    if result["skipped"]:
        note += f"; {result['skipped']} closed finding(s) without a ticket skipped"
    modeladmin.message_user(request, note + ".", messages.SUCCESS)
