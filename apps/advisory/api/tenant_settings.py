"""The tenant's advisory switch: /api/v1/advisory/settings/ (viewers read, admins change), with
the data-sharing notice an admin accepts before enabling; and the published answer schemas:
/api/v1/advisory/schemas/triage/ and …/brief/."""

from __future__ import annotations

from typing import ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.advisory import services
from apps.advisory.schemas import schema_for
from apps.advisory.selectors import settings_of
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role


class SettingsOutputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    available = serializers.BooleanField(
        help_text="Enabled and at least one enabled provider: advice can be asked for."
    )
    consensus_threshold = serializers.FloatField()
    data_sharing_accepted = serializers.BooleanField()
    data_sharing_accepted_by = serializers.CharField(allow_null=True)
    data_sharing_accepted_at = serializers.DateTimeField(allow_null=True)
    data_sharing_notice = serializers.CharField()


class SettingsInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    consensus_threshold = serializers.FloatField(required=False, min_value=0.5, max_value=1.0)
    accept_data_sharing = serializers.BooleanField(
        required=False,
        help_text="true records who accepted the notice and when (a signed-in admin, not a "
        "token); false withdraws it and turns advisory off.",
    )


def _out(tenant) -> dict:
    row = settings_of(tenant=tenant)
    by = row.data_sharing_accepted_by
    return SettingsOutputSerializer(
        {
            "enabled": row.enabled,
            "available": services.available(tenant),
            "consensus_threshold": row.consensus_threshold,
            "data_sharing_accepted": row.data_sharing_accepted,
            "data_sharing_accepted_by": by.get_username() if by else None,
            "data_sharing_accepted_at": row.data_sharing_accepted_at,
            "data_sharing_notice": services.DATA_SHARING_NOTICE,
        }
    ).data


class AdvisorySettingsApi(TenantApi):
    scope_resource = "advisory"
    role_map = {"GET": Role.VIEWER, "PATCH": Role.ADMIN}

    @extend_schema(responses=SettingsOutputSerializer, summary="The tenant's advisory settings")
    def get(self, request):
        return Response(_out(request.tenant))

    @extend_schema(
        request=SettingsInputSerializer,
        responses=SettingsOutputSerializer,
        examples=[
            OpenApiExample(
                "Accept and enable",
                value={"accept_data_sharing": True, "enabled": True},
                request_only=True,
            )
        ],
        summary="Change the advisory settings (admin); enabling needs the notice accepted",
    )
    def patch(self, request):
        data = SettingsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        context = request.tenant_context
        services.settings_update(
            tenant=request.tenant,
            actor=actor_label(request),
            user=context.user if context.token is None else None,
            **data.validated_data,
        )
        return Response(_out(request.tenant))


class AdvisorySchemaApi(TenantApi):
    """Published documentation, the same for every tenant (also in docs/advisory.md), so it is
    served whether or not the tenant configured a provider."""

    scope_resource = "advisory"
    task: ClassVar[str] = ""

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        summary="The JSON schema every answer of this task is validated against",
    )
    def get(self, request):
        return Response(schema_for(self.task))


class TriageSchemaApi(AdvisorySchemaApi):
    task = "triage"


class BriefSchemaApi(AdvisorySchemaApi):
    task = "brief"
