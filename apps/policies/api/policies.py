"""Policies: /api/v1/policies/ — versions, activation/rollback, validation, simulation and
assignments. Reading is for every role; changing policies is for approvers (GRC) and up."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.findings.selectors import application_get
from apps.policies import services
from apps.policies.models import AssignmentMode
from apps.policies.selectors import (
    assignment_get,
    assignment_list,
    policy_get,
    policy_list,
    policy_version_list,
)
from apps.policies.simulation import simulate
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import PagePagination
from fixops.platform.errors import Forbidden

MAX_SOURCE = 256 * 1024
WRITE = {"POST": Role.APPROVER, "PATCH": Role.APPROVER, "DELETE": Role.APPROVER}


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    digest = serializers.CharField()
    note = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()


class VersionDetailSerializer(VersionSerializer):
    source = serializers.CharField()
    parameters = serializers.DictField()


class PolicySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    scope = serializers.SerializerMethodField()
    is_default = serializers.BooleanField()
    active_version = VersionSerializer(allow_null=True)
    updated_at = serializers.DateTimeField()

    def get_scope(self, policy) -> str:
        return "tenant" if policy.tenant_id else "global"


class SourceSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=MAX_SOURCE, trim_whitespace=False)
    parameters = serializers.DictField(required=False, default=dict)


def _policy(request, policy_id: int, *, write: bool = False):
    """A tenant policy of the caller's tenant or a global one (read-only unless its own)."""
    policy = policy_get(tenant=request.tenant, policy_id=policy_id)
    if write and policy.tenant_id is None:
        raise Forbidden(
            "Global policies are managed by the platform administrators; copy it into a "
            "tenant policy to change it.",
            code="global_policy",
        )
    return policy


class PolicyCollectionApi(TenantApi):
    scope_resource = "policies"
    pagination_class = PagePagination
    role_map = WRITE

    class InputSerializer(SourceSerializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
        note = serializers.CharField(required=False, allow_blank=True, max_length=500)

    @extend_schema(responses=PolicySerializer(many=True), summary="List policies")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(policy_list(tenant=request.tenant), request, self)
        return paginator.get_paginated_response(PolicySerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: PolicySerializer, **errors(409)},
        summary="Create a tenant policy (validated; version 1 active)",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_create(
            tenant=request.tenant, actor=actor_label(request), **data.validated_data
        )
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyValidateApi(TenantApi):
    scope_resource = "policies"
    role_map = {"POST": Role.VIEWER}

    @extend_schema(
        request=SourceSerializer,
        responses={200: None},
        summary="Compile-check a policy without saving it (400 names the line)",
    )
    def post(self, request):
        data = SourceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.policy_validate(**data.validated_data)
        return Response({"valid": True})


class PolicyDetailApi(TenantApi):
    scope_resource = "policies"
    role_map = WRITE

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    @extend_schema(responses=PolicySerializer, summary="One policy")
    def get(self, request, policy_id: int):
        return Response(PolicySerializer(_policy(request, policy_id)).data)

    @extend_schema(
        request=InputSerializer, responses={200: PolicySerializer, **errors(409)}, summary="Rename"
    )
    def patch(self, request, policy_id: int):
        policy = _policy(request, policy_id, write=True)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_update(
            policy=policy, actor=actor_label(request), **data.validated_data
        )
        return Response(PolicySerializer(policy).data)


class PolicyVersionCollectionApi(TenantApi):
    scope_resource = "policies"
    pagination_class = PagePagination
    role_map = WRITE

    class InputSerializer(SourceSerializer):
        note = serializers.CharField(required=False, allow_blank=True, max_length=500)
        activate = serializers.BooleanField(required=False, default=False)

    @extend_schema(responses=VersionDetailSerializer(many=True), summary="Versions, newest first")
    def get(self, request, policy_id: int):
        policy = _policy(request, policy_id)
        versions = policy_version_list(policy=policy)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(versions, request, self)
        return paginator.get_paginated_response(VersionDetailSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: VersionDetailSerializer},
        summary="Add an immutable version (validated on save)",
    )
    def post(self, request, policy_id: int):
        policy = _policy(request, policy_id, write=True)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.policy_version_add(
            policy=policy, actor=actor_label(request), **data.validated_data
        )
        return Response(VersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


class PolicyActivateApi(TenantApi):
    scope_resource = "policies"
    role_map = WRITE

    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)

    @extend_schema(
        request=InputSerializer,
        responses=PolicySerializer,
        summary="Activate a version (rollback = activating an older one)",
    )
    def post(self, request, policy_id: int):
        policy = _policy(request, policy_id, write=True)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_activate(
            policy=policy, number=data.validated_data["version"], actor=actor_label(request)
        )
        return Response(PolicySerializer(policy).data)


class PolicySimulateApi(TenantApi):
    scope_resource = "policies"
    role_map = {"POST": Role.ANALYST}

    class InputSerializer(serializers.Serializer):
        source = serializers.CharField(required=False, max_length=MAX_SOURCE, trim_whitespace=False)
        parameters = serializers.DictField(required=False)
        version = serializers.IntegerField(required=False, min_value=1)
        last = serializers.IntegerField(required=False, default=50, min_value=1, max_value=1000)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        all_decisions = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Replay every decision of the tenant, not only this policy's.",
        )

        def validate(self, attrs):
            if ("source" in attrs) == ("version" in attrs):
                raise serializers.ValidationError("give exactly one of `source` or `version`")
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={200: None},
        summary="Replay recorded decisions with a candidate policy",
    )
    def post(self, request, policy_id: int):
        policy = _policy(request, policy_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        report = simulate(
            tenant=request.tenant,
            policy=policy,
            source=values.get("source"),
            parameters=values.get("parameters"),
            version_number=values.get("version"),
            last=values["last"],
            since=values.get("since"),
            until=values.get("until"),
            all_decisions=values["all_decisions"],
        )
        return Response(report)


@extend_schema(exclude=True)  # the same operation, documented once (with the slash)
class PolicySimulateAliasApi(PolicySimulateApi):
    pass


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    policy_id = serializers.IntegerField()
    policy = serializers.CharField(source="policy.name")
    application_id = serializers.IntegerField(allow_null=True)
    mode = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()


class AssignmentCollectionApi(TenantApi):
    scope_resource = "policies"
    pagination_class = PagePagination
    role_map = WRITE

    class InputSerializer(serializers.Serializer):
        policy = serializers.IntegerField(min_value=1)
        application = serializers.IntegerField(
            required=False, allow_null=True, help_text="Omit for the whole tenant."
        )
        mode = serializers.ChoiceField(choices=AssignmentMode.choices)

    @extend_schema(responses=AssignmentSerializer(many=True), summary="Policy assignments")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(assignment_list(tenant=request.tenant), request, self)
        return paginator.get_paginated_response(AssignmentSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: AssignmentSerializer, **errors(404, 409)},
        summary="Assign a policy",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        policy = _policy(request, values["policy"])
        application = None
        if values.get("application"):
            application = application_get(
                tenant=request.tenant, application_id=values["application"]
            )
        assignment = services.policy_assign(
            tenant=request.tenant,
            policy=policy,
            application=application,
            mode=values["mode"],
            actor=actor_label(request),
        )
        return Response(AssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)


class AssignmentDetailApi(TenantApi):
    scope_resource = "policies"
    role_map = WRITE

    @extend_schema(responses={204: None}, summary="Remove an assignment")
    def delete(self, request, assignment_id: int):
        assignment = assignment_get(tenant=request.tenant, assignment_id=assignment_id)
        services.policy_unassign(assignment=assignment, actor=actor_label(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
