"""Owners: assign one finding (/findings/{id}/assign/) or many (/findings/bulk-assign/)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.findings.api.findings import FindingOutputSerializer
from apps.findings.owners import BULK_MAX, Owner, finding_assign, finding_assign_bulk, owner_choose
from apps.findings.selectors import finding_get
from apps.tenants.api.base import TenantApi, actor_label
from fixops.platform.errors import Invalid


class OwnerInput(serializers.Serializer):
    """Exactly one of: `owner` ("me" or null), `user` (a username), `team` (an id)."""

    owner = serializers.ChoiceField(
        choices=["me"], required=False, allow_null=True, help_text='"me", or null for nobody.'
    )
    user = serializers.CharField(required=False, max_length=150)
    team = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError(
                'Send exactly one of "owner" ("me" or null), "user" or "team".'
            )
        return attrs


def owner_from(request, data: dict) -> Owner:
    """The Owner an OwnerInput names, for the caller's tenant."""
    me = None
    if data.get("owner") == "me":
        me = request.tenant_context.user
        if me is None:
            raise Invalid(
                '"owner": "me" needs a signed-in user; an API token is nobody.',
                code="owner_me_needs_user",
            )
    return owner_choose(
        tenant=request.tenant, me=me, username=data.get("user"), team_id=data.get("team")
    )


EXAMPLES = [
    OpenApiExample("Assign to me", value={"owner": "me"}, request_only=True),
    OpenApiExample("Assign to a team", value={"team": 3}, request_only=True),
    OpenApiExample("Unassign", value={"owner": None}, request_only=True),
]


class FindingAssignApi(TenantApi):
    scope_resource = "findings"
    InputSerializer = OwnerInput

    @extend_schema(
        request=OwnerInput,
        responses=FindingOutputSerializer,
        examples=EXAMPLES,
        summary="Give a finding an owner: me, a user, a team, or nobody",
    )
    def post(self, request, finding_id: int):
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        data = OwnerInput(data=request.data)
        data.is_valid(raise_exception=True)
        finding = finding_assign(
            tenant=request.tenant,
            finding=finding,
            owner=owner_from(request, data.validated_data),
            actor=actor_label(request),
        )
        return Response(FindingOutputSerializer(finding).data)


class FindingBulkAssignApi(TenantApi):
    """All or nothing: an id of another tenant (or none) answers 404 and changes nothing."""

    scope_resource = "findings"

    class InputSerializer(OwnerInput):
        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), min_length=1, max_length=BULK_MAX
        )

        def validate(self, attrs):
            return {"ids": attrs.pop("ids"), **OwnerInput.validate(self, attrs)}

    class OutputSerializer(serializers.Serializer):
        requested = serializers.IntegerField()
        changed = serializers.IntegerField(help_text="Findings whose owner changed.")

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        examples=[
            OpenApiExample("Assign to me", value={"ids": [1, 2], "owner": "me"}, request_only=True)
        ],
        summary=f"Give up to {BULK_MAX} findings the same owner",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data.pop("ids")
        changed = finding_assign_bulk(
            tenant=request.tenant,
            finding_ids=ids,
            owner=owner_from(request, data.validated_data),
            actor=actor_label(request),
        )
        return Response(
            self.OutputSerializer({"requested": len(set(ids)), "changed": changed}).data
        )
