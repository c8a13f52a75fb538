"""Model providers: /api/v1/advisory/providers/ (admin only; the API key is write-only), and
their token usage: /api/v1/advisory/usage/."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.advisory.models import ProviderKind
from apps.advisory.selectors import provider_get, provider_list, usage_list
from apps.advisory.services import provider_create, provider_delete, provider_update
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import PagePagination

ADMIN_ONLY = {m: Role.ADMIN for m in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")}


class ProviderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    base_url = serializers.CharField()
    model = serializers.CharField()
    has_api_key = serializers.SerializerMethodField()
    weight = serializers.FloatField()
    timeout = serializers.IntegerField(help_text="Seconds to wait for an answer.")
    daily_token_budget = serializers.IntegerField(help_text="Tokens per UTC day; 0 = none.")
    price_in_per_1k = serializers.DecimalField(max_digits=12, decimal_places=6)
    price_out_per_1k = serializers.DecimalField(max_digits=12, decimal_places=6)
    enabled = serializers.BooleanField()
    breaker_state = serializers.CharField(help_text="closed, open or half_open")
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_has_api_key(self, obj) -> bool:
        return bool(obj.api_key_token)


class ProviderInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=ProviderKind.choices)
    base_url = serializers.URLField(
        max_length=500,
        help_text="e.g. https://api.openai.com/v1, https://api.anthropic.com, "
        "https://generativelanguage.googleapis.com/v1beta (SSRF-checked).",
    )
    model = serializers.CharField(max_length=200)
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        max_length=1000,
        help_text="Write-only; never returned. Empty clears it.",
    )
    weight = serializers.FloatField(required=False, min_value=0.01, max_value=100)
    timeout = serializers.IntegerField(required=False, min_value=1, max_value=600)
    daily_token_budget = serializers.IntegerField(required=False, min_value=0)
    price_in_per_1k = serializers.DecimalField(
        max_digits=12, decimal_places=6, required=False, min_value=0
    )
    price_out_per_1k = serializers.DecimalField(
        max_digits=12, decimal_places=6, required=False, min_value=0
    )
    enabled = serializers.BooleanField(required=False)


EXAMPLE = OpenApiExample(
    "OpenAI",
    value={
        "name": "openai-4o",
        "kind": "openai",
        "base_url": "https://api.openai.com/v1",
        "model": "gpt-4o-2024-08-06",
        "api_key": "sk-...",
        "weight": 1.0,
        "timeout": 60,
        "daily_token_budget": 200000,
    },
    request_only=True,
)


class ProviderCollectionApi(TenantApi):
    scope_resource = "advisory"
    pagination_class = PagePagination
    role_map = ADMIN_ONLY

    @extend_schema(
        responses=ProviderOutputSerializer(many=True), summary="List model providers (admin)"
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(provider_list(tenant=request.tenant), request, self)
        return paginator.get_paginated_response(ProviderOutputSerializer(page, many=True).data)

    @extend_schema(
        request=ProviderInputSerializer,
        responses={201: ProviderOutputSerializer, **errors(409)},
        examples=[EXAMPLE],
        summary="Configure a model provider (admin)",
    )
    def post(self, request):
        data = ProviderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        provider = provider_create(
            tenant=request.tenant, actor=actor_label(request), **data.validated_data
        )
        return Response(ProviderOutputSerializer(provider).data, status=status.HTTP_201_CREATED)


class ProviderDetailApi(TenantApi):
    scope_resource = "advisory"
    role_map = ADMIN_ONLY

    @extend_schema(responses=ProviderOutputSerializer, summary="One model provider (admin)")
    def get(self, request, provider_id: int):
        provider = provider_get(tenant=request.tenant, provider_id=provider_id)
        return Response(ProviderOutputSerializer(provider).data)

    @extend_schema(
        request=ProviderInputSerializer,
        responses={200: ProviderOutputSerializer, **errors(409)},
        examples=[EXAMPLE],
        summary="Replace a provider's fields (admin); the API key only when given",
    )
    def put(self, request, provider_id: int):
        return self._update(request, provider_id, partial=False)

    @extend_schema(
        request=ProviderInputSerializer(partial=True),
        responses={200: ProviderOutputSerializer, **errors(409)},
        summary="Change some of a provider's fields (admin)",
    )
    def patch(self, request, provider_id: int):
        return self._update(request, provider_id, partial=True)

    @extend_schema(responses={204: None}, summary="Remove a model provider (admin)")
    def delete(self, request, provider_id: int):
        provider = provider_get(tenant=request.tenant, provider_id=provider_id)
        provider_delete(provider=provider, actor=actor_label(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, provider_id: int, *, partial: bool):
        provider = provider_get(tenant=request.tenant, provider_id=provider_id)
        data = ProviderInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        provider = provider_update(
            provider=provider, actor=actor_label(request), **data.validated_data
        )
        return Response(ProviderOutputSerializer(provider).data)


class UsageOutputSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField()
    provider_name = serializers.CharField(source="provider.name")
    day = serializers.DateField(help_text="UTC day")
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    calls = serializers.IntegerField()
    skipped_over_budget = serializers.IntegerField(
        help_text="Questions not sent because the daily budget was spent."
    )
    daily_token_budget = serializers.IntegerField(source="provider.daily_token_budget")


class UsageListApi(TenantApi):
    scope_resource = "advisory"
    pagination_class = PagePagination
    role_map = ADMIN_ONLY

    class FilterSerializer(serializers.Serializer):
        days = serializers.IntegerField(required=False, min_value=1, max_value=366, default=30)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=UsageOutputSerializer(many=True),
        summary="Token usage and cost per provider per UTC day (admin)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        since = timezone.now().date() - timedelta(days=filters.validated_data["days"] - 1)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            usage_list(tenant=request.tenant, since=since), request, self
        )
        return paginator.get_paginated_response(UsageOutputSerializer(page, many=True).data)
