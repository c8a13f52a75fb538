"""Notification rules: /api/v1/notification-rules/ (admins write, viewers read): which events,
at or above which severity, reach which integration."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.connectors.models import NotificationEvent
from apps.connectors.notification_rules import (
    notification_rule_create,
    notification_rule_delete,
    notification_rule_update,
)
from apps.connectors.selectors import (
    integration_get,
    notification_rule_get,
    notification_rule_list,
)
from apps.findings.models import Severity
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import PagePagination
from fixops.platform.errors import Invalid, NotFound

ADMIN_WRITES = {"POST": Role.ADMIN, "PUT": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}


class RuleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=NotificationEvent.choices))
    min_severity = serializers.ChoiceField(choices=Severity.choices)
    integration = serializers.IntegerField(source="integration_id")
    integration_kind = serializers.CharField(source="integration.kind")
    integration_name = serializers.CharField(source="integration.name")
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationEvent.choices),
        min_length=1,
        help_text="Event kinds this rule sends: " + ", ".join(NotificationEvent.values),
    )
    min_severity = serializers.ChoiceField(
        choices=Severity.choices, required=False, help_text="Default info (everything)."
    )
    integration = serializers.IntegerField(help_text="The channel: an integration's id.")
    enabled = serializers.BooleanField(required=False)


def _fields(request, data: dict) -> dict:
    """The validated fields with the integration resolved inside the caller's tenant."""
    fields = dict(data)
    if "integration" in fields:
        try:
            fields["integration"] = integration_get(
                tenant=request.tenant, integration_id=fields["integration"]
            )
        except NotFound:
            raise Invalid(
                "The notification rule is not valid: integration: no such integration",
                code="invalid_notification_rule",
                details={"integration": "no such integration"},
            ) from None
    return fields


class NotificationRuleCollectionApi(TenantApi):
    scope_resource = "notifications"
    pagination_class = PagePagination
    role_map = ADMIN_WRITES

    class FilterSerializer(serializers.Serializer):
        integration = serializers.IntegerField(required=False)
        enabled = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=RuleOutputSerializer(many=True),
        summary="List notification rules",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        qs = notification_rule_list(tenant=request.tenant, filters=filters.validated_data)
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(RuleOutputSerializer(page, many=True).data)

    @extend_schema(
        request=RuleInputSerializer,
        responses={201: RuleOutputSerializer, **errors(409)},
        summary="Create a notification rule (admin)",
    )
    def post(self, request):
        data = RuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = notification_rule_create(
            tenant=request.tenant,
            actor=actor_label(request),
            **_fields(request, data.validated_data),
        )
        return Response(RuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)


class NotificationRuleDetailApi(TenantApi):
    scope_resource = "notifications"
    role_map = ADMIN_WRITES

    @extend_schema(responses=RuleOutputSerializer, summary="One notification rule")
    def get(self, request, rule_id: int):
        rule = notification_rule_get(tenant=request.tenant, rule_id=rule_id)
        return Response(RuleOutputSerializer(rule).data)

    @extend_schema(
        request=RuleInputSerializer,
        responses={200: RuleOutputSerializer, **errors(409)},
        summary="Replace a notification rule (admin)",
    )
    def put(self, request, rule_id: int):
        return self._update(request, rule_id, partial=False)

    @extend_schema(
        request=RuleInputSerializer(partial=True),
        responses={200: RuleOutputSerializer, **errors(409)},
        summary="Change some fields of a notification rule (admin)",
    )
    def patch(self, request, rule_id: int):
        return self._update(request, rule_id, partial=True)

    @extend_schema(responses={204: None}, summary="Delete a notification rule (admin)")
    def delete(self, request, rule_id: int):
        rule = notification_rule_get(tenant=request.tenant, rule_id=rule_id)
        notification_rule_delete(rule=rule, actor=actor_label(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, rule_id: int, *, partial: bool):
        rule = notification_rule_get(tenant=request.tenant, rule_id=rule_id)
        data = RuleInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        rule = notification_rule_update(
            rule=rule, actor=actor_label(request), **_fields(request, data.validated_data)
        )
        return Response(RuleOutputSerializer(rule).data)
