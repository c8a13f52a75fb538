"""Risk acceptances: analysts request, approvers (never the requester) approve or reject."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.findings.selectors import application_get, finding_get
from apps.policies import acceptances
from apps.policies.models import AcceptanceScope, AcceptanceStatus
from apps.policies.selectors import acceptance_get, acceptance_list
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import KeysetPagination


class AcceptanceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.CharField()
    status = serializers.CharField()
    application_id = serializers.IntegerField(allow_null=True)
    finding_id = serializers.IntegerField(allow_null=True)
    vuln_id = serializers.CharField()
    rule_id = serializers.CharField()
    path_pattern = serializers.CharField()
    justification = serializers.CharField()
    expires_at = serializers.DateTimeField()
    requested_by = serializers.CharField(source="requested_label")
    requested_at = serializers.DateTimeField()
    reviewed_by = serializers.CharField(source="reviewed_label")
    reviewed_at = serializers.DateTimeField(allow_null=True)
    review_note = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)


def _user(request):
    """The person behind the request; None for API tokens (they cannot review)."""
    context = request.tenant_context
    return None if context.token is not None else context.user


class AcceptanceCollectionApi(TenantApi):
    scope_resource = "findings"
    pagination_class = KeysetPagination

    class InputSerializer(serializers.Serializer):
        scope = serializers.ChoiceField(choices=AcceptanceScope.choices)
        finding = serializers.IntegerField(required=False, min_value=1)
        application = serializers.IntegerField(required=False, min_value=1)
        vuln_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
        rule_id = serializers.CharField(required=False, allow_blank=True, max_length=500)
        path_pattern = serializers.CharField(required=False, allow_blank=True, max_length=500)
        justification = serializers.CharField(max_length=10_000)
        expires_at = serializers.DateTimeField()

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=AcceptanceStatus.choices, required=False)
        application = serializers.IntegerField(required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=AcceptanceSerializer(many=True),
        summary="List risk acceptances",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = acceptance_list(tenant=request.tenant, filters=filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(AcceptanceSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: AcceptanceSerializer, **errors(404)},
        summary="Request a risk acceptance",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        tenant = request.tenant
        if values.get("finding"):
            values["finding"] = finding_get(tenant=tenant, finding_id=values["finding"])
        if values.get("application"):
            values["application"] = application_get(
                tenant=tenant, application_id=values["application"]
            )
        acceptance = acceptances.acceptance_request(
            tenant=tenant, user=_user(request), actor=actor_label(request), **values
        )
        return Response(AcceptanceSerializer(acceptance).data, status=status.HTTP_201_CREATED)


class AcceptanceDetailApi(TenantApi):
    scope_resource = "findings"

    @extend_schema(responses=AcceptanceSerializer, summary="One risk acceptance")
    def get(self, request, acceptance_id: int):
        acceptance = acceptance_get(tenant=request.tenant, acceptance_id=acceptance_id)
        return Response(AcceptanceSerializer(acceptance).data)


class _ReviewApi(TenantApi):
    """One review step (approve, reject, revoke): the service checks who may take it."""

    scope_resource = "findings"
    role_map = {"POST": Role.APPROVER}
    service = staticmethod(acceptances.acceptance_approve)

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    def post(self, request, acceptance_id: int):
        acceptance = acceptance_get(tenant=request.tenant, acceptance_id=acceptance_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = self.service(
            acceptance=acceptance,
            user=_user(request),
            actor=actor_label(request),
            note=data.validated_data["note"],
        )
        return Response(AcceptanceSerializer(done).data)


def _review_api(name: str, service, summary: str) -> type[_ReviewApi]:
    view = type(name, (_ReviewApi,), {"service": staticmethod(service), "__module__": __name__})
    return extend_schema(
        request=_ReviewApi.InputSerializer,
        responses={200: AcceptanceSerializer, **errors(409)},
        summary=summary,
    )(view)


AcceptanceApproveApi = _review_api(
    "AcceptanceApproveApi",
    acceptances.acceptance_approve,
    "Approve (approver role, a person, not the requester)",
)
AcceptanceRejectApi = _review_api(
    "AcceptanceRejectApi",
    acceptances.acceptance_reject,
    "Reject with a note (approver role, a person, not the requester)",
)
AcceptanceRevokeApi = _review_api(
    "AcceptanceRevokeApi",
    acceptances.acceptance_revoke,
    "Revoke an approved acceptance early; its findings reopen",
)
