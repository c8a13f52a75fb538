"""The gate: POST /api/v1/decisions/ decides; decisions are listed and read, never changed."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.findings.services import application_resolve
from apps.policies.api.serializers import DecisionSerializer
from apps.policies.decisions import decision_make
from apps.policies.models import Decision, Outcome
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.scoping import get_scoped_or_404
from fixops.platform.api.pagination import KeysetPagination


def decision_queryset(tenant):
    return (
        Decision.objects.for_tenant(tenant)
        .select_related("application", "policy_version__policy", "evidence")
        .prefetch_related("scans")
        .defer("input", "result")
    )


class DecisionCollectionApi(TenantApi):
    scope_resource = "decisions"

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
        values = filters.validated_data
        queryset = decision_queryset(request.tenant)
        for name, lookup in (
            ("application", "application_id"),
            ("outcome", "outcome"),
            ("commit", "commit"),
            ("branch", "branch"),
            ("scan", "scans"),
        ):
            if name in values:
                queryset = queryset.filter(**{lookup: values[name]})
        paginator = KeysetPagination()
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(DecisionSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: DecisionSerializer},
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
        return Response(
            DecisionSerializer(decision_queryset(request.tenant).get(pk=decision.pk)).data,
            status=status.HTTP_201_CREATED,
        )


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
        queryset = decision_queryset(request.tenant).defer(None)
        decision = get_scoped_or_404(queryset, tenant=request.tenant, pk=decision_id)
        body = DecisionDetailSerializer(decision).data
        if request.query_params.get("input") in ("1", "true"):
            body["input"] = decision.input
        return Response(body)
