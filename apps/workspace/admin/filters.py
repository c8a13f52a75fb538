"""The triage list's filters: one SimpleListFilter per GET parameter (the dashboard links to
these names: state, status, severity, kev, ssvc, sla, application, tool, target, branch,
owner, has_ticket, epss_min). Each turns its value into the findings selector's filters
(apps/findings/selectors.py `finding_filter`), so the admin and the API filter alike. Choices
are the request's tenant's and bounded: a short list plus a free-text box where a tenant
may have thousands (applications, tools, targets, branches)."""

from __future__ import annotations

import abc

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters

from apps.findings.models import FindingStatus, Severity, SlaState
from apps.findings.selectors import (
    application_find,
    application_list,
    finding_filter,
    occurrence_values,
)
from apps.findings.sla import SSVC_DECISIONS
from apps.tenants.selectors import team_list, tenant_member_list
from apps.workspace.admin.tenant import request_tenant
from apps.workspace.triage import ACTIVE_STATUSES, with_ticket

CHOICES_SHOWN = 15


class TriageFilter(admin.SimpleListFilter):
    """A triage list filter: its links (and a free-text box when `text_input`), keeping the
    page's other filters; SelectorFilter below turns a value into selector filters."""

    template = "admin/workspace/filter.html"
    text_input = False  # offer a free-text box besides the links
    placeholder = ""
    kept_params: list[tuple[str, str]] = []

    def choices(self, changelist):
        # The free-text box keeps the other filters of the page (hidden inputs).
        self.kept_params = sorted(
            (k, v) for k, v in changelist.params.items() if k != self.parameter_name
        )
        # Django yields "All" first, then one choice per lookup, in order.
        values = ["", *(str(lookup) for lookup, _ in self.lookup_choices)]
        for choice, value in zip(super().choices(changelist), values, strict=False):
            yield {**choice, "value": value}

    def has_output(self):
        return self.text_input or super().has_output()

    def expected_parameters(self):
        return [self.parameter_name]


def _choice(value: str, allowed) -> str:
    if value not in allowed:
        raise IncorrectLookupParameters(f"unknown value {value!r}")
    return value


class SelectorFilter(TriageFilter, metaclass=abc.ABCMeta):
    """A filter whose value becomes filters of the findings selector (`finding_filter`)."""

    @abc.abstractmethod
    def filters_for(self, value: str) -> dict:
        """The selector's filters for this parameter's `value`."""

    def queryset(self, request, queryset):
        value = self.value()
        if value in (None, ""):
            return queryset
        filters = self.filters_for(value)
        return finding_filter(queryset, tenant=request_tenant(request), filters=filters)


class StateFilter(TriageFilter):
    """Active findings (open, triaged, in progress, reopened) by default; `state=all` for
    every status. A `status=` choice overrides it."""

    title = "state"
    parameter_name = "state"

    def __init__(self, request, params, model, model_admin):
        self.status_given = bool(params.get("status"))
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [("active", "Active (needs work)"), ("all", "All statuses")]

    def value(self):
        return super().value() or "active"

    def choices(self, changelist):
        current = self.value()
        for lookup, label in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": label,
                "value": lookup,
            }

    def queryset(self, request, queryset):
        value = _choice(self.value(), ("active", "all"))
        if value == "all" or self.status_given:
            return queryset
        return finding_filter(
            queryset, tenant=request_tenant(request), filters={"status": ACTIVE_STATUSES}
        )


class StatusFilter(SelectorFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return FindingStatus.choices

    def filters_for(self, value):
        return {"status": [_choice(value, FindingStatus.values)]}


class SeverityFilter(SelectorFilter):
    title = "severity"
    parameter_name = "severity"

    def lookups(self, request, model_admin):
        return Severity.choices

    def filters_for(self, value):
        return {"severity": [_choice(value, Severity.values)]}


class KevFilter(SelectorFilter):
    title = "in CISA KEV"
    parameter_name = "kev"

    def lookups(self, request, model_admin):
        return [("1", "In KEV"), ("0", "Not in KEV")]

    def filters_for(self, value):
        return {"kev": _choice(value, ("1", "0")) == "1"}


class SsvcFilter(SelectorFilter):
    title = "SSVC"
    parameter_name = "ssvc"

    def lookups(self, request, model_admin):
        return [(d, d) for d in reversed(SSVC_DECISIONS)]

    def filters_for(self, value):
        return {"ssvc": [_choice(value, SSVC_DECISIONS)]}


class SlaFilter(SelectorFilter):
    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return SlaState.choices

    def filters_for(self, value):
        return {"sla": [_choice(value, SlaState.values)]}


class HasTicketFilter(TriageFilter):
    title = "ticket"
    parameter_name = "has_ticket"

    def lookups(self, request, model_admin):
        return [("1", "Has a ticket"), ("0", "No ticket")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in (None, ""):
            return queryset
        return with_ticket(queryset, _choice(value, ("1", "0")) == "1")


class EpssFilter(SelectorFilter):
    title = "EPSS at least"
    parameter_name = "epss_min"
    text_input = True
    placeholder = "0.0-1.0"

    def lookups(self, request, model_admin):
        return [("0.01", "1%"), ("0.1", "10%"), ("0.5", "50%"), ("0.9", "90%")]

    def filters_for(self, value):
        try:
            number = float(value)
        except ValueError:
            raise IncorrectLookupParameters("epss_min is a number from 0 to 1") from None
        if not 0 <= number <= 1:
            raise IncorrectLookupParameters("epss_min is a number from 0 to 1")
        return {"epss_min": number}


class ApplicationFilter(TriageFilter):
    """The tenant's first applications by name, and a box for any other (a name or id)."""

    title = "application"
    parameter_name = "application"
    text_input = True
    placeholder = "name or id"

    def lookups(self, request, model_admin):
        tenant = request_tenant(request)
        if tenant is None:
            return []
        apps = application_list(tenant=tenant).values_list("pk", "name")[:CHOICES_SHOWN]
        return [(str(pk), name) for pk, name in apps]

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        tenant = request_tenant(request)
        found = application_find(tenant=tenant, ref=value) if tenant is not None else None
        if found is None:
            if not (value.isascii() and value.isdigit() and len(value) <= 18):
                return queryset.none()  # a name the tenant does not have: nothing to show
            return queryset.filter(application_id=int(value))  # a superuser across tenants
        return finding_filter(queryset, tenant=tenant, filters={"application": found.pk})


class OccurrenceFilter(SelectorFilter):
    """Findings that any scan stream reports with this tool, target or branch."""

    text_input = True

    def lookups(self, request, model_admin):
        tenant = request_tenant(request)
        if tenant is None:
            return []
        values = occurrence_values(tenant=tenant, field=self.parameter_name, limit=CHOICES_SHOWN)
        return [(v, v) for v in values]

    def filters_for(self, value):
        return {self.parameter_name: value[:300]}


class ToolFilter(OccurrenceFilter):
    placeholder = "e.g. semgrep"
    title = "tool"
    parameter_name = "tool"


class TargetFilter(OccurrenceFilter):
    title = "target"
    parameter_name = "target"


class BranchFilter(OccurrenceFilter):
    title = "branch"
    parameter_name = "branch"


class OwnerFilter(TriageFilter):
    """me, none, user-<id>, team-<id>: the tenant's teams and first members by name."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        choices = [("me", "Me"), ("none", "Nobody")]
        tenant = request_tenant(request)
        if tenant is None:
            return choices
        teams = team_list(tenant=tenant)[:CHOICES_SHOWN]
        choices += [(f"team-{t.pk}", f"{t.name} (team)") for t in teams]
        people = tenant_member_list(tenant=tenant)[:CHOICES_SHOWN]
        choices += [(f"user-{u.pk}", u.get_username()) for u in people]
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value in (None, ""):
            return queryset
        kind, _, ref = value.partition("-")
        if value == "me":
            filters = {"owner_user": request.user.pk}
        elif value == "none":
            filters = {"owner_none": True}
        elif kind in ("user", "team") and ref.isascii() and ref.isdigit() and len(ref) <= 18:
            filters = {f"owner_{kind}": int(ref)}
        else:
            raise IncorrectLookupParameters("owner is me, none, user-<id> or team-<id>")
        return finding_filter(queryset, tenant=request_tenant(request), filters=filters)


TRIAGE_FILTERS = (
    StateFilter,
    StatusFilter,
    SeverityFilter,
    SlaFilter,
    KevFilter,
    SsvcFilter,
    EpssFilter,
    OwnerFilter,
    HasTicketFilter,
    ApplicationFilter,
    ToolFilter,
    TargetFilter,
    BranchFilter,
)
