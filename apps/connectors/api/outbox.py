"""The outbox of the tenant: /api/v1/outbox/ (filters, keyset pages), one message with its
attempts, and replay / cancel (admin)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.connectors.models import MessageKind, MessageStatus
from apps.connectors.selectors import attempt_list, message_get, message_list
from apps.connectors.services import message_cancel, message_replay
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import KeysetPagination


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    integration_id = serializers.IntegerField()
    integration = serializers.CharField(source="integration.name")
    kind = serializers.CharField()
    reference = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    outcome = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    worker = serializers.CharField()


class MessageDetailSerializer(MessageOutputSerializer):
    payload = serializers.DictField()
    attempt_history = AttemptSerializer(many=True)


class OutboxCollectionApi(TenantApi):
    scope_resource = "integrations"
    pagination_class = KeysetPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.MultipleChoiceField(choices=MessageStatus.choices, required=False)
        integration = serializers.IntegerField(required=False, min_value=1)
        kind = serializers.ChoiceField(choices=MessageKind.choices, required=False)
        reference = serializers.CharField(required=False, max_length=200)
        older_than = serializers.IntegerField(
            required=False,
            min_value=1,
            # A timedelta ends at 999,999,999 days; ten years is older than any message.
            max_value=10 * 366 * 86400,
            help_text="Only messages older than this many seconds.",
        )

    @extend_schema(
        parameters=[FilterSerializer],
        responses=MessageOutputSerializer(many=True),
        summary="List outbox messages (keyset pages, newest first)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = {
            k: (sorted(v) if isinstance(v, set) else v) for k, v in filters.validated_data.items()
        }
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            message_list(tenant=request.tenant, filters=values), request, self
        )
        return paginator.get_paginated_response(MessageOutputSerializer(page, many=True).data)


def _detail(message) -> dict:
    message.attempt_history = list(attempt_list(message=message))
    return MessageDetailSerializer(message).data


class OutboxDetailApi(TenantApi):
    scope_resource = "integrations"

    @extend_schema(responses=MessageDetailSerializer, summary="One message with its attempts")
    def get(self, request, message_id: int):
        return Response(_detail(message_get(tenant=request.tenant, message_id=message_id)))


class OutboxReplayApi(TenantApi):
    scope_resource = "integrations"
    role_map = {"POST": Role.ADMIN}

    @extend_schema(
        request=None,
        responses={200: MessageDetailSerializer, **errors(409)},
        summary="Replay a dead message",
    )
    def post(self, request, message_id: int):
        message = message_get(tenant=request.tenant, message_id=message_id)
        message = message_replay(message=message, actor=actor_label(request))
        return Response(_detail(message))


class OutboxCancelApi(TenantApi):
    scope_resource = "integrations"
    role_map = {"POST": Role.ADMIN}

    @extend_schema(
        request=None,
        responses={200: MessageDetailSerializer, **errors(409)},
        summary="Cancel an undelivered message",
    )
    def post(self, request, message_id: int):
        message = message_get(tenant=request.tenant, message_id=message_id)
        message = message_cancel(message=message, actor=actor_label(request))
        return Response(_detail(message))
