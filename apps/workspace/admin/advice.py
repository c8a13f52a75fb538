"""The AI advice panel's two admin actions, shared by the finding and decision pages: ask for
advice on the page's subject, and agree or disagree with the latest advice. Both need the
analyst role in the subject's tenant and go through the advisory services (audited)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse

from apps.advisory.advice_selectors import advice_get
from apps.advisory.advising import advice_feedback, advice_request
from apps.advisory.models import Verdict
from apps.tenants.admin_scoping import admin_roles_for
from apps.tenants.roles import Role, role_at_least
from apps.workspace.advice import advice_panel
from fixops.platform.errors import DomainError, Invalid


def may_advise(request, tenant_id: int) -> bool:
    """Analyst or above in the tenant (superusers too)."""
    roles = admin_roles_for(request)
    if roles is None:
        return True
    role = roles.get(tenant_id)
    return role is not None and role_at_least(role, Role.ANALYST)


class AdvicePanelMixin:
    """Adds `<id>/advice/` and `<id>/advice/feedback/` to a ModelAdmin whose change page shows
    the panel. The subclass says how to load its subject (`_advice_subject`) and which advisory
    task it asks (`advice_task`)."""

    # The subclass defines `_advice_subject(request, object_id)`: the page's object, in the
    # request's tenant, or Http404.
    advice_task = "triage"

    def advice_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/advice/",
                self.admin_site.admin_view(self.advice_request_view),
                name=f"{info}_advice",
            ),
            path(
                "<path:object_id>/advice/feedback/",
                self.admin_site.admin_view(self.advice_feedback_view),
                name=f"{info}_advice_feedback",
            ),
        ]

    def advice_context(self, request, obj) -> dict:
        """The panel's context for the change page (`advice_panel` None hides it)."""
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        subject = {"finding": obj} if self.advice_task == "triage" else {"decision": obj}
        return {
            "advice_panel": advice_panel(
                tenant=obj.tenant,
                user=request.user,
                may_act=may_advise(request, obj.tenant_id),
                **subject,
            ),
            "advice_request_url": reverse(f"admin:{info}_advice", args=[obj.pk]),
            "advice_feedback_url": reverse(f"admin:{info}_advice_feedback", args=[obj.pk]),
        }

    def _advice_back(self, obj) -> str:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return reverse(f"admin:{info}_change", args=[obj.pk]) + "#advice"

    def advice_request_view(self, request, object_id):
        """POST: ask every enabled provider about the subject (advice_request)."""
        obj = self._advice_subject(request, object_id)
        back = self._advice_back(obj)
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if not may_advise(request, obj.tenant_id):
            self.message_user(request, "Asking for advice needs the analyst role.", messages.ERROR)
            return HttpResponseRedirect(back)
        subject = {"finding": obj} if self.advice_task == "triage" else {"decision": obj}
        try:
            advice_request(
                tenant=obj.tenant,
                task=self.advice_task,
                user=request.user,
                actor=f"user:{request.user.get_username()}",
                **subject,
            )
        except DomainError as exc:
            self.message_user(request, exc.message or "Advice is not available.", messages.ERROR)
        else:
            self.message_user(request, "Advice asked; reload for the answers.", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def advice_feedback_view(self, request, object_id):
        """POST advice=<id>, verdict=agree|disagree: the analyst's verdict (audited)."""
        obj = self._advice_subject(request, object_id)
        back = self._advice_back(obj)
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if not may_advise(request, obj.tenant_id):
            self.message_user(request, "Rating advice needs the analyst role.", messages.ERROR)
            return HttpResponseRedirect(back)
        verdict = request.POST.get("verdict", "")
        try:
            advice = advice_get(tenant=obj.tenant, advice_id=request.POST.get("advice"))
            on = advice.finding_id if self.advice_task == "triage" else advice.decision_id
            if verdict not in Verdict.values or on != obj.pk:
                raise Invalid("Unknown advice or verdict.")
            advice_feedback(
                advice=advice,
                user=request.user,
                verdict=verdict,
                actor=f"user:{request.user.get_username()}",
            )
        except DomainError as exc:
            self.message_user(request, exc.message or "Not recorded.", messages.ERROR)
        else:
            self.message_user(request, f"Recorded: you {verdict}.", messages.SUCCESS)
        return HttpResponseRedirect(back)
