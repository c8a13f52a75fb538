"""Findings: /api/v1/findings/ (keyset pages, stable order) and one finding with occurrences."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.findings.models import FindingStatus, Severity, SlaState
from apps.findings.models.finding import FindingKind
from apps.findings.selectors import (
    finding_get,
    finding_list,
    findings_sighted,
    occurrences_sighted,
)
from apps.findings.services import finding_transition
from apps.tenants.api.base import TenantApi, actor_label
from fixops.platform.api.openapi import errors
from fixops.platform.api.output import FastOutput
from fixops.platform.api.pagination import KeysetPagination
from fixops.platform.errors import Invalid


class OwnerSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["user", "team"])
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The username or the team's name.")


class FindingOutputSerializer(FastOutput, serializers.Serializer):
    id = serializers.IntegerField()
    application = serializers.CharField(source="application.name")
    application_id = serializers.IntegerField()
    dedup_key = serializers.CharField()
    dedup_strategy = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    severity = serializers.CharField()
    tool = serializers.CharField()
    rule_id = serializers.CharField()
    title = serializers.CharField()
    cwe = serializers.IntegerField(allow_null=True)
    vuln_id = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    component_purl = serializers.CharField()
    component_name = serializers.CharField()
    component_version = serializers.CharField()
    fixed_versions = serializers.ListField(child=serializers.CharField())
    path = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)
    resource = serializers.CharField()
    vex_state = serializers.CharField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by_scan_id = serializers.IntegerField(allow_null=True)
    reopen_count = serializers.IntegerField()
    risk_score = serializers.FloatField(allow_null=True)
    ssvc = serializers.CharField()
    epss = serializers.FloatField(allow_null=True)
    kev = serializers.BooleanField()
    owner = OwnerSerializer(allow_null=True, help_text="Who fixes it: a user, a team or null.")
    due_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the finding must be fixed under the tenant's SLA policy; null when "
        "its severity has no deadline (docs/workspace.md, SLA).",
    )
    sla_state = serializers.ChoiceField(
        choices=[*SlaState.values, ""],
        help_text="on_time, due_soon, overdue or paused (risk accepted); empty when closed.",
    )


class OccurrenceSerializer(serializers.Serializer):
    tool = serializers.CharField()
    branch = serializers.CharField()
    target = serializers.CharField(help_text="What the stream scans (docs/ingestion.md).")
    rule_id = serializers.CharField()
    path = serializers.CharField()
    original_path = serializers.CharField(
        help_text="The path as the tool wrote it, when normalisation changed it (absolute, "
        "../, file://); empty when `path` is what the report said."
    )
    line = serializers.IntegerField(allow_null=True)
    fingerprints = serializers.DictField()
    suppressed = serializers.BooleanField()
    suppression = serializers.CharField()
    baseline_state = serializers.CharField()
    first_scan_id = serializers.IntegerField(allow_null=True)
    last_scan_id = serializers.IntegerField(allow_null=True)
    last_seen = serializers.DateTimeField()
    retracted_at = serializers.DateTimeField(allow_null=True)


class FindingDetailSerializer(FindingOutputSerializer):
    message = serializers.CharField()
    cvss = serializers.ListField(child=serializers.DictField())
    vex_justification = serializers.CharField()
    risk_explanation = serializers.DictField(
        help_text="Each component of the risk score: prior, evidence, impact, SSVC inputs."
    )
    occurrences = OccurrenceSerializer(many=True, source="occurrence_rows")


class FindingCollectionApi(TenantApi):
    scope_resource = "findings"
    pagination_class = KeysetPagination

    class FilterSerializer(serializers.Serializer):
        application = serializers.IntegerField(required=False)
        status = serializers.MultipleChoiceField(choices=FindingStatus.choices, required=False)
        severity = serializers.MultipleChoiceField(choices=Severity.choices, required=False)
        kind = serializers.MultipleChoiceField(choices=FindingKind.choices, required=False)
        tool = serializers.CharField(required=False)
        cve = serializers.CharField(required=False, help_text="CVE / GHSA / OSV id")
        cwe = serializers.IntegerField(required=False, min_value=1)
        dedup_strategy = serializers.CharField(required=False)
        kev = serializers.BooleanField(required=False, allow_null=True, default=None)
        epss_min = serializers.FloatField(required=False, min_value=0, max_value=1)
        risk_min = serializers.FloatField(required=False, min_value=0, max_value=100)
        ssvc = serializers.MultipleChoiceField(
            choices=["Track", "Track*", "Attend", "Act"], required=False
        )
        owner = serializers.RegexField(
            r"^(me|none|team:\d{1,18}|[^:]{1,150})$",
            required=False,
            help_text="`me`, a username, `team:<id>`, or `none` (no owner).",
        )
        sla = serializers.MultipleChoiceField(
            choices=SlaState.choices,
            required=False,
            help_text="SLA state: overdue, due_soon, on_time, paused (any of).",
        )
        ordering = serializers.ChoiceField(
            choices=["-id", "-risk_score", "-epss", "due_at"],
            required=False,
            default="-id",
            help_text="Newest first (default), riskiest first, most likely exploited first, "
            "or soonest due first (`due_at`; findings without a deadline come last).",
        )

    @extend_schema(
        parameters=[FilterSerializer],
        responses=FindingOutputSerializer(many=True),
        summary="List findings (keyset pages, newest first)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = {
            k: (sorted(v) if isinstance(v, set) else v) for k, v in filters.validated_data.items()
        }
        if values.get("cve"):
            values["cve"] = values["cve"].upper()
        if values.get("owner"):
            values.update(owner_filter(values.pop("owner"), request.tenant_context.user))
        paginator = self.pagination_class()
        order = values.pop("ordering")
        paginator.ordering = (order, "-id") if order != "-id" else ("-id",)
        page = findings_sighted(
            paginator.paginate_queryset(
                finding_list(tenant=request.tenant, filters=values), request, self
            )
        )
        return paginator.get_paginated_response(FindingOutputSerializer(page, many=True).data)


def owner_filter(value: str, user) -> dict:
    """The selector filters that `?owner=` names."""
    if value == "none":
        return {"owner_none": True}
    if value.startswith("team:"):
        return {"owner_team": int(value.removeprefix("team:"))}
    if value == "me":
        if user is None:
            raise Invalid(
                "owner=me needs a signed-in user; an API token is nobody.",
                code="owner_me_needs_user",
            )
        return {"owner_user": user.pk}
    return {"owner_username": value}


class FindingDetailApi(TenantApi):
    scope_resource = "findings"

    @extend_schema(responses=FindingDetailSerializer, summary="One finding with its occurrences")
    def get(self, request, finding_id: int):
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        finding.occurrence_rows = occurrences_sighted(finding=finding)
        return Response(FindingDetailSerializer(finding).data)


class FindingTransitionApi(TenantApi):
    """Triage: move a finding to another status (open, triaged, in_progress, fixed, verified,
    false_positive, reopened) when the lifecycle allows it."""

    scope_resource = "findings"

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=FindingStatus.choices)
        reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    @extend_schema(
        request=InputSerializer,
        responses={200: FindingOutputSerializer, **errors(409)},
        examples=[
            OpenApiExample(
                "Triage",
                value={"status": "triaged", "reason": "Reachable from the public API; fix in 2.4."},
                request_only=True,
            )
        ],
        summary="Change a finding's status (validated, recorded)",
    )
    def post(self, request, finding_id: int):
        # Look the finding up first: a foreign id answers 404 whatever the body says.
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        finding = finding_transition(
            tenant=request.tenant,
            finding=finding,
            to_status=data.validated_data["status"],
            reason=data.validated_data.get("reason", ""),
            actor=actor_label(request),
        )
        finding = finding_get(tenant=request.tenant, finding_id=finding.pk)  # due_at, state
        return Response(FindingOutputSerializer(finding).data)
