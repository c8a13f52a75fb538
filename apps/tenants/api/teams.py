"""Teams: /api/v1/teams/ and /api/v1/teams/{id}/ (any member reads, the admin role writes)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role
from apps.tenants.selectors import team_get, team_list
from apps.tenants.teams import (
    MEMBERS_MAX,
    NAME_MAX,
    team_create,
    team_delete,
    team_members_resolve,
    team_update,
)
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import PagePagination

ADMIN_WRITES = {"POST": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    members = serializers.SerializerMethodField(help_text="Usernames, sorted.")
    created_at = serializers.DateTimeField()

    def get_members(self, team) -> list[str]:
        return sorted(user.get_username() for user in team.members.all())


def _members_field(required: bool) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=150),
        max_length=MEMBERS_MAX,
        required=required,
        help_text="Usernames of the tenant's members (the whole list: it replaces the old one).",
    )


class TeamCollectionApi(TenantApi):
    scope_resource = "teams"
    role_map = ADMIN_WRITES
    pagination_class = PagePagination

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=NAME_MAX)
        members = _members_field(required=False)

    @extend_schema(responses=TeamSerializer(many=True), summary="List the tenant's teams")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(team_list(tenant=request.tenant), request, self)
        return paginator.get_paginated_response(TeamSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: TeamSerializer, **errors(409)},
        examples=[
            OpenApiExample(
                "Team", value={"name": "payments", "members": ["alice"]}, request_only=True
            )
        ],
        summary="Create a team (members by username)",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        members = team_members_resolve(
            tenant=request.tenant, usernames=data.validated_data.get("members", [])
        )
        team = team_create(
            tenant=request.tenant,
            name=data.validated_data["name"],
            members=members,
            actor=actor_label(request),
        )
        return Response(TeamSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamDetailApi(TenantApi):
    scope_resource = "teams"
    role_map = ADMIN_WRITES

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=NAME_MAX, required=False)
        members = _members_field(required=False)

    @extend_schema(responses=TeamSerializer, summary="One team with its members")
    def get(self, request, team_id: int):
        return Response(TeamSerializer(team_get(tenant=request.tenant, team_id=team_id)).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: TeamSerializer, **errors(409)},
        summary="Rename a team or replace its members",
    )
    def patch(self, request, team_id: int):
        team = team_get(tenant=request.tenant, team_id=team_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        members = data.validated_data.get("members")
        team_update(
            team=team,
            name=data.validated_data.get("name"),
            members=None
            if members is None
            else team_members_resolve(tenant=request.tenant, usernames=members),
            actor=actor_label(request),
        )
        return Response(TeamSerializer(team_get(tenant=request.tenant, team_id=team.pk)).data)

    @extend_schema(responses={204: None}, summary="Delete a team (its findings lose their owner)")
    def delete(self, request, team_id: int):
        team_delete(
            team=team_get(tenant=request.tenant, team_id=team_id), actor=actor_label(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
