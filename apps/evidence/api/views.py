"""Evidence: /api/v1/evidence/ (bundles, keys, verification, GRC export) and /api/v1/audit/."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.evidence.models import BundleStatus
from apps.evidence.registry import evidence_key_list
from apps.evidence.selectors import audit_event_list, evidence_get, evidence_list
from apps.evidence.services import (
    EvidenceTampered,
    evidence_envelope,
    evidence_export,
    evidence_verify,
)
from apps.evidence.storage import StorageError
from apps.tenants.api.base import TenantApi
from apps.tenants.roles import Role
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import KeysetPagination
from fixops.platform.errors import Conflict, DomainError, Invalid, Unavailable


class EvidenceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    decision_id = serializers.IntegerField(allow_null=True)
    envelope_digest = serializers.CharField(help_text="sha256 of the DSSE envelope bytes.")
    payload_digest = serializers.CharField(help_text="sha256 of the signed statement bytes.")
    subjects = serializers.ListField(child=serializers.DictField())
    keyid = serializers.CharField()
    algorithm = serializers.CharField()
    backend = serializers.CharField()
    status = serializers.ChoiceField(
        choices=BundleStatus.choices,
        help_text="pending: signed and recorded, not stored yet (the bundle answers 409).",
    )
    stored_at = serializers.DateTimeField(allow_null=True)
    size_bytes = serializers.IntegerField()
    stored_bytes = serializers.IntegerField()
    retention_until = serializers.DateTimeField()
    lock_mode = serializers.CharField()
    encryption_generation = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    bundle_url = serializers.SerializerMethodField()
    verify_url = serializers.SerializerMethodField()

    def get_bundle_url(self, bundle) -> str:
        return reverse("v1:evidence-bundle", kwargs={"evidence_id": bundle.pk})

    def get_verify_url(self, bundle) -> str:
        return reverse("v1:evidence-verify", kwargs={"evidence_id": bundle.pk})


class RangeSerializer(serializers.Serializer):
    # "from" is a keyword: declared through the fields dict below.
    to = serializers.DateTimeField(required=False, help_text="Created before (exclusive).")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(required=False, help_text="Created at or after.")
        return fields

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": "must be later than from"})
        return attrs


class EvidenceCollectionApi(TenantApi):
    scope_resource = "evidence"
    pagination_class = KeysetPagination

    class FilterSerializer(RangeSerializer):
        decision = serializers.IntegerField(required=False, min_value=1)
        application = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=EvidenceOutputSerializer(many=True),
        summary="List evidence bundles (keyset pages, newest first)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        qs = evidence_list(tenant=request.tenant, filters=filters.validated_data)
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(EvidenceOutputSerializer(page, many=True).data)


class EvidenceDetailApi(TenantApi):
    scope_resource = "evidence"

    @extend_schema(responses=EvidenceOutputSerializer, summary="One evidence bundle's metadata")
    def get(self, request, evidence_id: int):
        bundle = evidence_get(tenant=request.tenant, evidence_id=evidence_id)
        return Response(EvidenceOutputSerializer(bundle).data)


def _unreadable(exc: Exception) -> DomainError:
    if isinstance(exc, EvidenceTampered):
        return Conflict(str(exc), code="evidence_tampered")
    return Unavailable(str(exc), code="evidence_unavailable")


class EvidenceBundleApi(TenantApi):
    scope_resource = "evidence"

    @extend_schema(
        responses={(200, "application/json"): OpenApiTypes.OBJECT, **errors(409, 503)},
        summary="The DSSE envelope exactly as signed",
        description="Bytes-identical on every call; verify offline with "
        "`manage.py verify_evidence` or any DSSE verifier. 409 `evidence_pending` until the "
        "bundle is stored (shortly after its decision commits).",
    )
    def get(self, request, evidence_id: int):
        bundle = evidence_get(tenant=request.tenant, evidence_id=evidence_id)
        try:
            envelope = evidence_envelope(bundle)
        except (EvidenceTampered, StorageError) as exc:
            raise _unreadable(exc) from None
        response = HttpResponse(envelope, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{bundle.file_name}"'
        response["ETag"] = f'"sha256:{bundle.envelope_digest}"'
        return response


class VerifyOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    keyid = serializers.CharField(allow_null=True)
    algorithm = serializers.CharField(allow_null=True)
    checks = serializers.DictField(child=serializers.CharField())


class EvidenceVerifyApi(TenantApi):
    scope_resource = "evidence"

    @extend_schema(responses=VerifyOutputSerializer, summary="Verify a bundle now")
    def get(self, request, evidence_id: int):
        bundle = evidence_get(tenant=request.tenant, evidence_id=evidence_id)
        return Response(VerifyOutputSerializer(evidence_verify(bundle)).data)


class KeyOutputSerializer(serializers.Serializer):
    keyid = serializers.CharField()
    algorithm = serializers.CharField()
    pem = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "retired"])
    signing = serializers.BooleanField()
    created_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)


class EvidenceKeysApi(TenantApi):
    scope_resource = "evidence"

    @extend_schema(
        responses=KeyOutputSerializer(many=True), summary="Public keys that verify evidence"
    )
    def get(self, request):
        return Response(KeyOutputSerializer(evidence_key_list(), many=True).data)


class EvidenceExportApi(TenantApi):
    scope_resource = "evidence"
    role_map = {"GET": Role.APPROVER}

    @extend_schema(
        parameters=[RangeSerializer],
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="bundles/, keys/, signed manifest"
            ),
            **errors(409, 503),
        },
        summary="GRC export: a zip that verifies offline",
    )
    def get(self, request):
        window = RangeSerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        since, until = window.validated_data.get("from"), window.validated_data.get("to")
        count = evidence_list(tenant=request.tenant, filters=window.validated_data).count()
        if count > settings.FIXOPS_EVIDENCE_EXPORT_MAX:
            raise Invalid(
                f"{count} bundles in that range; one export holds at most "
                f"{settings.FIXOPS_EVIDENCE_EXPORT_MAX}. Narrow from/to.",
                code="export_too_large",
                details={"bundles": count, "limit": settings.FIXOPS_EVIDENCE_EXPORT_MAX},
            )
        try:
            data = evidence_export(tenant=request.tenant, since=since, until=until)
        except (EvidenceTampered, StorageError) as exc:
            raise _unreadable(exc) from None
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = (
            f'attachment; filename="fixops-evidence-{request.tenant.slug}.zip"'
        )
        return response


class AuditEventOutputSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    actor = serializers.CharField()
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    request_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class AuditEventCollectionApi(TenantApi):
    scope_resource = "evidence"
    pagination_class = KeysetPagination
    role_map = {"GET": Role.APPROVER}

    class FilterSerializer(serializers.Serializer):
        target_type = serializers.CharField(required=False, max_length=100)
        target_id = serializers.CharField(required=False, max_length=100)
        action = serializers.CharField(required=False, max_length=100)
        actor = serializers.CharField(required=False, max_length=150)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=AuditEventOutputSerializer(many=True),
        summary="The tenant's audit events (hash-chained), newest first",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        paginator.ordering = ("-seq",)
        qs = audit_event_list(tenant=request.tenant, filters=filters.validated_data)
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(AuditEventOutputSerializer(page, many=True).data)
