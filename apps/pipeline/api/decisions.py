"""The gate: POST /api/v1/decisions/ decides; decisions are listed and read, never changed."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.reverse import reverse

from apps.findings.services import application_resolve
from apps.pipeline.gate import decision_make
from apps.policies.models import Decision, Outcome
from apps.policies.selectors import decision_get, decision_list
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.models import Tenant
from fixops.platform.api.openapi import errors
from fixops.platform.api.output import FastOutput
from fixops.platform.api.pagination import KeysetPagination


class ReasonSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["deny", "review", "warn"])
    rule = serializers.CharField()
    message = serializers.CharField()
    finding_ids = serializers.ListField(child=serializers.IntegerField())


class PolicyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="policy_id")
    name = serializers.CharField(source="policy.name")
    version = serializers.IntegerField(source="number")
    digest = serializers.CharField()


class DecisionSerializer(FastOutput, serializers.Serializer):
    id = serializers.IntegerField()
    outcome = serializers.CharField()
    confidence = serializers.FloatField(help_text="Completeness and freshness of the inputs.")
    confidence_detail = serializers.DictField()
    reasons = ReasonSerializer(many=True)
    policy = PolicyRefSerializer(source="policy_version")
    counts = serializers.DictField()
    application = serializers.CharField(source="application.name")
    application_id = serializers.IntegerField()
    commit = serializers.CharField()
    branch = serializers.CharField()
    pipeline_run = serializers.CharField()
    scans = serializers.SerializerMethodField()
    engine = serializers.CharField()
    input_digest = serializers.CharField()
    shadow = serializers.ListField(child=serializers.DictField())
    timings_ms = serializers.DictField()
    requested_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()
    evidence_url = serializers.SerializerMethodField()

    def get_scans(self, decision) -> list[int]:
        return sorted(s.pk for s in decision.scans.all())

    def get_url(self, decision) -> str:
        return reverse("v1:decision-detail", kwargs={"decision_id": decision.pk})

    def get_evidence_url(self, decision) -> str | None:
        return evidence_url(decision)


def evidence_url(decision) -> str | None:
    """The signed bundle of the decision (apps/evidence)."""
    bundle = getattr(decision, "evidence", None)
    if bundle is None:
        return None
    return reverse("v1:evidence-bundle", kwargs={"evidence_id": bundle.pk})


def decision_queryset(tenant: Tenant) -> QuerySet[Decision]:
    """Decisions as the endpoints serialise them (the scans endpoint answers with one too)."""
    return decision_list(tenant=tenant)


class DecisionCollectionApi(TenantApi):
    scope_resource = "decisions"
    # FIXOPS_UPLOAD_RATE counts these (fixops/platform/api/throttling.py); GETs poll free.
    upload_throttle_methods = ("POST",)
    pagination_class = KeysetPagination

    class InputSerializer(serializers.Serializer):
        application = serializers.CharField(max_length=200, help_text="Name or id.")
        commit = serializers.CharField(required=False, allow_blank=True, max_length=100)
        branch = serializers.CharField(required=False, allow_blank=True, max_length=255)
        pipeline_run = serializers.CharField(required=False, allow_blank=True, max_length=255)
        scans = serializers.ListField(
            child=serializers.IntegerField(min_value=1),
            required=False,
            max_length=200,
            help_text="Scan ids this decision covers (their reports become evidence subjects).",
        )

    class FilterSerializer(serializers.Serializer):
        application = serializers.IntegerField(required=False)
        outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
        commit = serializers.CharField(required=False)
        branch = serializers.CharField(required=False)
        scan = serializers.IntegerField(required=False, help_text="Decisions covering this scan.")

    @extend_schema(
        parameters=[FilterSerializer],
        responses=DecisionSerializer(many=True),
        summary="List decisions (newest first)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = decision_list(tenant=request.tenant, filters=filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(DecisionSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: DecisionSerializer, **errors(404)},
        examples=[
            OpenApiExample(
                "Gate a pipeline",
                value={
                    "application": "payments-api",
                    "commit": "9f1c2e7",
                    "branch": "main",
                    "pipeline_run": "ci-1234",
                    "scans": [42],
                },
                request_only=True,
            )
        ],
        summary="Decide whether a pipeline may ship",
        description="Evaluates the application's active policy over its open findings now and "
        "answers ALLOW, NEEDS_REVIEW or BLOCK with the reasons. A policy that cannot decide "
        "closes the gate (BLOCK, rule FX-ENGINE-ERROR).",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        application = application_resolve(
            tenant=request.tenant, ref=values["application"], create=False
        )
        decision = decision_make(
            tenant=request.tenant,
            application=application,
            commit=values.get("commit", ""),
            branch=values.get("branch", ""),
            pipeline_run=values.get("pipeline_run", ""),
            scan_ids=values.get("scans", []),
            actor=actor_label(request),
        )
        decision = decision_get(tenant=request.tenant, decision_id=decision.pk)
        return Response(DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class DecisionDetailSerializer(DecisionSerializer):
    result = serializers.DictField(help_text="The policy's result document as returned.")
    error = serializers.CharField()


class DecisionDetailApi(TenantApi):
    scope_resource = "decisions"

    @extend_schema(
        parameters=[
            OpenApiParameter("input", bool, description="Include the policy input document.")
        ],
        responses=DecisionDetailSerializer,
        summary="One decision",
    )
    def get(self, request, decision_id: int):
        decision = decision_get(tenant=request.tenant, decision_id=decision_id, documents=True)
        body = DecisionDetailSerializer(decision).data
        if request.query_params.get("input") in ("1", "true"):
            body["input"] = decision.input
        return Response(body)
