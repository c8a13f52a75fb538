"""Applications CRUD: /api/v1/applications/."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.findings.models import Criticality, DataClassification
from apps.findings.models.application import (
    MAX_SOURCE_ROOT_LENGTH,
    MAX_SOURCE_ROOTS,
    source_root_problem,
)
from apps.findings.selectors import (
    APPLICATION_ORDERINGS,
    application_get,
    application_list,
    application_sla,
)
from apps.findings.services import application_create, application_delete, application_update
from apps.tenants.api.base import TenantApi, actor_label
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import PagePagination


class ApplicationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    repo_url = serializers.CharField()
    criticality = serializers.CharField()
    internet_exposed = serializers.BooleanField()
    data_classification = serializers.CharField()
    owners = serializers.ListField(child=serializers.CharField())
    source_roots = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ApplicationInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    repo_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    criticality = serializers.ChoiceField(choices=Criticality.choices, required=False)
    internet_exposed = serializers.BooleanField(required=False)
    data_classification = serializers.ChoiceField(
        choices=DataClassification.choices, required=False
    )
    owners = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=50
    )
    source_roots = serializers.ListField(
        child=serializers.CharField(max_length=MAX_SOURCE_ROOT_LENGTH, trim_whitespace=True),
        required=False,
        max_length=MAX_SOURCE_ROOTS,
        help_text="Absolute directories where scanners see this application's checkout (CI "
        "workspaces, container mounts), e.g. /builds/acme/shop or C:\\build\\shop: "
        "absolute paths in reports are made relative to the first that contains them "
        "(docs/ingestion.md, Paths).",
    )

    def validate_source_roots(self, roots: list[str]) -> list[str]:
        problems = {
            str(i): [source_root_problem(root)]
            for i, root in enumerate(roots)
            if source_root_problem(root)
        }
        if problems:
            raise serializers.ValidationError(problems)
        return roots


class ApplicationFilterSerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    q = serializers.CharField(required=False, help_text="Substring of name or repository URL.")
    criticality = serializers.ChoiceField(choices=Criticality.choices, required=False)
    internet_exposed = serializers.BooleanField(required=False, allow_null=True, default=None)
    data_classification = serializers.ChoiceField(
        choices=DataClassification.choices, required=False
    )
    ordering = serializers.ChoiceField(choices=APPLICATION_ORDERINGS, required=False)


class ApplicationCollectionApi(TenantApi):
    scope_resource = "applications"
    pagination_class = PagePagination

    @extend_schema(
        parameters=[ApplicationFilterSerializer],
        responses=ApplicationOutputSerializer(many=True),
        summary="List applications",
    )
    def get(self, request):
        filters = ApplicationFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        qs = application_list(tenant=request.tenant, filters=filters.validated_data)
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(ApplicationOutputSerializer(page, many=True).data)

    @extend_schema(
        request=ApplicationInputSerializer,
        responses={201: ApplicationOutputSerializer, **errors(409)},
        examples=[
            OpenApiExample(
                "An internet-facing service",
                value={
                    "name": "payments-api",
                    "repo_url": "https://git.example.com/acme/payments-api",
                    "criticality": "high",
                    "internet_exposed": True,
                    "owners": ["team-payments"],
                },
                request_only=True,
            )
        ],
        summary="Create an application",
    )
    def post(self, request):
        data = ApplicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = application_create(
            tenant=request.tenant, actor=actor_label(request), **data.validated_data
        )
        return Response(
            ApplicationOutputSerializer(application).data, status=status.HTTP_201_CREATED
        )


class ApplicationDetailApi(TenantApi):
    scope_resource = "applications"

    @extend_schema(responses=ApplicationOutputSerializer, summary="One application")
    def get(self, request, application_id: int):
        application = application_get(tenant=request.tenant, application_id=application_id)
        return Response(ApplicationOutputSerializer(application).data)

    @extend_schema(
        request=ApplicationInputSerializer,
        responses={200: ApplicationOutputSerializer, **errors(409)},
        summary="Replace an application's fields",
    )
    def put(self, request, application_id: int):
        return self._update(request, application_id, partial=False)

    @extend_schema(
        request=ApplicationInputSerializer(partial=True),
        responses={200: ApplicationOutputSerializer, **errors(409)},
        summary="Change some of an application's fields",
    )
    def patch(self, request, application_id: int):
        return self._update(request, application_id, partial=True)

    @extend_schema(responses={204: None, **errors(409)}, summary="Delete an application (admin)")
    def delete(self, request, application_id: int):
        application = application_get(tenant=request.tenant, application_id=application_id)
        application_delete(application=application, actor=actor_label(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, application_id: int, *, partial: bool):
        application = application_get(tenant=request.tenant, application_id=application_id)
        data = ApplicationInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        application = application_update(
            application=application, actor=actor_label(request), **data.validated_data
        )
        return Response(ApplicationOutputSerializer(application).data)


class ApplicationSlaOutputSerializer(serializers.Serializer):
    class ByStateSerializer(serializers.Serializer):
        on_time = serializers.IntegerField()
        due_soon = serializers.IntegerField()
        overdue = serializers.IntegerField()
        paused = serializers.IntegerField()

    application_id = serializers.IntegerField()
    as_of = serializers.DateTimeField()
    due_soon_days = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Findings that need work, paused ones included.")
    by_state = ByStateSerializer()
    on_time_percent = serializers.FloatField(
        allow_null=True,
        help_text="Open findings not overdue, in percent of those whose clock runs (paused "
        "ones apart); null when there are none.",
    )


class ApplicationSlaApi(TenantApi):
    scope_resource = "applications"

    @extend_schema(
        responses=ApplicationSlaOutputSerializer,
        summary="SLA compliance of an application (open findings by SLA state)",
    )
    def get(self, request, application_id: int):
        application = application_get(tenant=request.tenant, application_id=application_id)
        compliance = application_sla(tenant=request.tenant, application=application)
        return Response(ApplicationSlaOutputSerializer(compliance).data)
