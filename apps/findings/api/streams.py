"""Scan streams: /api/v1/streams/ (list) and /api/v1/streams/retire/ (retire one)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.findings.selectors import application_find, open_occurrence_counts, stream_list
from apps.findings.streams import stream_retire
from apps.tenants.api.base import TenantApi, actor_label
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import KeysetPagination
from fixops.platform.errors import NotFound


class StreamOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    application = serializers.CharField(source="application.name")
    application_id = serializers.IntegerField()
    tool = serializers.CharField()
    branch = serializers.CharField()
    target = serializers.CharField()
    last_scan_id = serializers.IntegerField(allow_null=True)
    last_seen = serializers.DateTimeField(source="last_scan_at")
    open_occurrences = serializers.IntegerField()
    retired_at = serializers.DateTimeField(allow_null=True)
    retired_reason = serializers.CharField()


class StreamCollectionApi(TenantApi):
    """Scan streams (application, tool, branch, target) and how much each keeps open."""

    scope_resource = "scans"
    pagination_class = KeysetPagination

    class FilterSerializer(serializers.Serializer):
        application = serializers.IntegerField(required=False)
        tool = serializers.CharField(required=False, allow_blank=True)
        branch = serializers.CharField(required=False, allow_blank=True)
        target = serializers.CharField(
            required=False, allow_blank=True, help_text="Empty: streams older than targets."
        )

    @extend_schema(
        parameters=[FilterSerializer],
        responses=StreamOutputSerializer(many=True),
        summary="List scan streams (keyset pages, most recently scanned first)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        paginator.ordering = ("-last_scan_at", "-id")
        page = paginator.paginate_queryset(
            stream_list(tenant=request.tenant, filters=filters.validated_data), request, self
        )
        counts = open_occurrence_counts(page)
        for stream in page:
            stream.open_occurrences = counts.get(stream.pk, 0)
        return paginator.get_paginated_response(StreamOutputSerializer(page, many=True).data)


class StreamRetireApi(TenantApi):
    """Retire a stream whose target is no longer scanned: its live occurrences are retracted
    and findings no other stream reports are fixed. A new scan of it brings it back."""

    scope_resource = "scans"

    class InputSerializer(serializers.Serializer):
        application = serializers.CharField(max_length=200, help_text="Name or id.")
        tool = serializers.CharField(max_length=100)
        branch = serializers.CharField(required=False, allow_blank=True, default="")
        target = serializers.CharField(required=False, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        stream = StreamOutputSerializer()
        occurrences_retracted = serializers.IntegerField()
        findings_closed = serializers.IntegerField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(404)},
        summary="Retire a scan stream",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        application = application_find(tenant=request.tenant, ref=values.pop("application"))
        if application is None:
            raise NotFound("No such application.", code="unknown_application")
        result = stream_retire(
            tenant=request.tenant, application=application, actor=actor_label(request), **values
        )
        result["stream"].open_occurrences = 0
        return Response(self.OutputSerializer(result).data)
