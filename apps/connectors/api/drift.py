"""The drift report of one integration: /api/v1/integrations/{id}/drift/ (viewers read;
keyset pages, newest first; filters kind and state)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from apps.connectors.drift_selectors import drift_list
from apps.connectors.models import DriftKind
from apps.connectors.selectors import integration_get
from apps.tenants.api.base import TenantApi
from fixops.platform.api.pagination import KeysetPagination


class DriftOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=DriftKind.choices)
    reference = serializers.CharField(help_text="Our reference stamped on the ticket.")
    remote_key = serializers.CharField(help_text="The ticket's key at the vendor.")
    finding_id = serializers.IntegerField(allow_null=True)
    link_id = serializers.IntegerField(
        allow_null=True, help_text="Null once the link was removed (ticket deleted)."
    )
    detected_at = serializers.DateTimeField()
    repaired_at = serializers.DateTimeField(allow_null=True, help_text="Null while open.")
    detail = serializers.DictField(
        help_text="What was seen (finding and remote status) and the repair made."
    )


class DriftCollectionApi(TenantApi):
    scope_resource = "integrations"
    pagination_class = KeysetPagination

    class FilterSerializer(serializers.Serializer):
        kind = serializers.MultipleChoiceField(choices=DriftKind.choices, required=False)
        state = serializers.ChoiceField(
            choices=["open", "repaired"], required=False, help_text="Open or repaired drift."
        )

    @extend_schema(
        parameters=[FilterSerializer],
        responses=DriftOutputSerializer(many=True),
        summary="Drift found by reconciliation (keyset pages, newest first)",
    )
    def get(self, request, integration_id: int):
        integration = integration_get(tenant=request.tenant, integration_id=integration_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = {
            k: (sorted(v) if isinstance(v, set) else v) for k, v in filters.validated_data.items()
        }
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            drift_list(integration=integration, filters=values), request, self
        )
        return paginator.get_paginated_response(DriftOutputSerializer(page, many=True).data)
