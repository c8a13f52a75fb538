"""Comments: /findings/{id}/comments/ (thread, oldest first) and /comments/{comment_id}/."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.findings.comments import comment_add, comment_delete, comment_edit
from apps.findings.models.comment import BODY_MAX
from apps.findings.selectors import comment_get, comment_list, finding_get
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role, role_at_least
from fixops.platform.api.pagination import KeysetPagination


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    finding_id = serializers.IntegerField()
    author = serializers.CharField(
        source="author_label", help_text='Who wrote it here: "user:<name>" or "token:<prefix>".'
    )
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField(help_text='"fixops", or the vendor kind it was mirrored from.')
    integration_id = serializers.IntegerField(allow_null=True)
    external_id = serializers.CharField()
    remote_author = serializers.CharField()


class BodyInput(serializers.Serializer):
    body = serializers.CharField(max_length=BODY_MAX, trim_whitespace=False)


class OldestFirst(KeysetPagination):
    ordering = ("id",)


class FindingCommentCollectionApi(TenantApi):
    scope_resource = "findings"
    pagination_class = OldestFirst
    InputSerializer = BodyInput

    @extend_schema(responses=CommentSerializer(many=True), summary="A finding's comments")
    def get(self, request, finding_id: int):
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(comment_list(finding=finding), request, self)
        return paginator.get_paginated_response(CommentSerializer(page, many=True).data)

    @extend_schema(
        request=BodyInput,
        responses={201: CommentSerializer},
        examples=[OpenApiExample("Comment", value={"body": "Fix in 2.4."}, request_only=True)],
        summary="Comment on a finding",
    )
    def post(self, request, finding_id: int):
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        data = BodyInput(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comment_add(
            tenant=request.tenant,
            finding=finding,
            body=data.validated_data["body"],
            actor=actor_label(request),
            author=request.tenant_context.user,
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class FindingCommentDetailApi(TenantApi):
    """Authors edit their own comments; authors and admins delete them."""

    scope_resource = "findings"
    role_map = {"DELETE": Role.ANALYST}
    InputSerializer = BodyInput

    @extend_schema(request=BodyInput, responses=CommentSerializer, summary="Edit your comment")
    def patch(self, request, finding_id: int, comment_id: int):
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        comment = comment_get(finding=finding, comment_id=comment_id)
        data = BodyInput(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comment_edit(
            comment=comment, body=data.validated_data["body"], actor=actor_label(request)
        )
        return Response(CommentSerializer(comment).data)

    @extend_schema(responses={204: None}, summary="Delete a comment (yours, or any as admin)")
    def delete(self, request, finding_id: int, comment_id: int):
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        comment_delete(
            comment=comment_get(finding=finding, comment_id=comment_id),
            actor=actor_label(request),
            moderator=role_at_least(request.tenant_context.role, Role.ADMIN),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
