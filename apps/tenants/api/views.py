"""Who am I, tenant selection for signed-in users, and API token management."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.permissions import SESSION_TENANT_KEY
from apps.tenants.roles import Role
from apps.tenants.scopes import SCOPES
from apps.tenants.selectors import api_token_get, api_token_list, membership_list
from apps.tenants.services import api_token_issue, api_token_revoke, api_token_rotate
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import PagePagination


class TenantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    prefix = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    live = serializers.BooleanField(source="is_live")
    replaced_by = serializers.CharField(source="replaced_by.prefix", allow_null=True, default=None)


class MeApi(TenantApi):
    scope_resource = "me"
    requires_scope = False

    class OutputSerializer(serializers.Serializer):
        tenant = TenantSerializer()
        role = serializers.CharField()
        auth = serializers.ChoiceField(choices=["token", "session"])
        user = serializers.CharField(allow_null=True)
        token = TokenSerializer(allow_null=True)
        tenants = TenantSerializer(many=True)

    @extend_schema(responses=OutputSerializer, summary="The caller's tenant, role and token")
    def get(self, request):
        context = request.tenant_context
        tenants = (
            [m.tenant for m in membership_list(user=context.user)]
            if context.user is not None
            else [context.tenant]
        )
        data = {
            "tenant": context.tenant,
            "role": context.role,
            "auth": "token" if context.token else "session",
            "user": getattr(context.user, "username", None),
            "token": context.token,
            "tenants": tenants,
        }
        return Response(self.OutputSerializer(data).data)


class MeTenantSelectApi(APIView):
    """Signed-in users with several memberships choose the tenant they act in.

    Not a TenantApi: it must work before a tenant is selected. It only reads the caller's own
    memberships and accepts session authentication only (a token has exactly one tenant).
    """

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        tenant = serializers.SlugField()

    @extend_schema(request=InputSerializer, responses=TenantSerializer, summary="Select tenant")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        slug = data.validated_data["tenant"]
        membership = next(
            (m for m in membership_list(user=request.user) if m.tenant.slug == slug), None
        )
        if membership is None:
            raise ValidationError({"tenant": [f"You are not a member of a tenant named {slug!r}."]})
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
        return Response(TenantSerializer(membership.tenant).data)


class TokenCollectionApi(TenantApi):
    scope_resource = "tokens"
    pagination_class = PagePagination
    role_map = {"GET": Role.ADMIN, "POST": Role.ADMIN}

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        role = serializers.ChoiceField(choices=Role.choices, default=Role.ANALYST)
        scopes = serializers.ListField(
            child=serializers.CharField(),
            required=False,
            default=list,
            help_text=f"Empty: everything the role allows. Known: {', '.join(SCOPES)}.",
        )
        expires_at = serializers.DateTimeField(required=False, allow_null=True)

    class IssuedSerializer(TokenSerializer):
        token = serializers.CharField(help_text="Shown once; store it now.")

    @extend_schema(
        responses=TokenSerializer(many=True),
        summary="List API tokens",
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(api_token_list(tenant=request.tenant), request, self)
        return paginator.get_paginated_response(TokenSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: IssuedSerializer},
        examples=[
            OpenApiExample(
                "A CI token that only uploads and gates",
                value={
                    "name": "ci-payments",
                    "role": "analyst",
                    "scopes": ["scans:write", "decisions:write"],
                    "expires_at": "2027-06-30T00:00:00Z",
                },
                request_only=True,
            )
        ],
        summary="Issue an API token (shown once)",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = api_token_issue(
            tenant=request.tenant,
            created_by=request.tenant_context.user,
            issuer_token=request.tenant_context.token,
            **data.validated_data,
        )
        body = {**TokenSerializer(issued.token).data, "token": issued.plaintext}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailApi(TenantApi):
    scope_resource = "tokens"
    role_map = {"GET": Role.ADMIN, "DELETE": Role.ADMIN}

    @extend_schema(responses=TokenSerializer, summary="One API token")
    def get(self, request, prefix: str):
        return Response(TokenSerializer(api_token_get(tenant=request.tenant, prefix=prefix)).data)

    @extend_schema(responses={204: None}, summary="Revoke an API token")
    def delete(self, request, prefix: str):
        api_token_revoke(
            token=api_token_get(tenant=request.tenant, prefix=prefix), actor=actor_label(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRotateApi(TenantApi):
    """A new token with the same name, role and scopes; the old one lives on for the grace
    period (FIXOPS_TOKEN_ROTATION_GRACE_HOURS) so deployments can switch over."""

    scope_resource = "tokens"
    role_map = {"POST": Role.ADMIN}

    @extend_schema(
        request=None,
        responses={201: TokenCollectionApi.IssuedSerializer, **errors(409)},
        summary="Rotate an API token (the new one is shown once)",
    )
    def post(self, request, prefix: str):
        old = api_token_get(tenant=request.tenant, prefix=prefix)
        issued = api_token_rotate(
            token=old,
            created_by=request.tenant_context.user,
            issuer_token=request.tenant_context.token,
        )
        body = {**TokenSerializer(issued.token).data, "token": issued.plaintext}
        return Response(body, status=status.HTTP_201_CREATED)
