"""Scan upload and status: /api/v1/scans/."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.findings.counts import result_counts, skipped_entry
from apps.findings.models import ScanStatus
from apps.findings.models.application import source_root_problem
from apps.findings.parsers import registry
from apps.findings.selectors import scan_get, scan_list
from apps.pipeline.api.decisions import DecisionSerializer, decision_queryset
from apps.pipeline.gate import decision_make
from apps.pipeline.ingest import scan_submit
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role, role_at_least
from apps.tenants.scopes import scope_granted
from fixops.platform.api.openapi import errors
from fixops.platform.api.output import FastOutput
from fixops.platform.api.pagination import KeysetPagination
from fixops.platform.errors import Forbidden, TooLarge

# Multipart framing around the file; a request this much over the limit is refused unread.
MULTIPART_OVERHEAD = 64 * 1024


class ToolSerializer(serializers.Serializer):
    name = serializers.CharField(source="tool_name")
    version = serializers.CharField(source="tool_version")


class ScanOutputSerializer(FastOutput, serializers.Serializer):
    id = serializers.IntegerField()
    application = serializers.CharField(source="application.name")
    application_id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    format = serializers.CharField()
    tool = ToolSerializer(source="*")
    commit = serializers.CharField()
    branch = serializers.CharField()
    target = serializers.CharField(help_text="What was scanned; part of the scan stream.")
    pipeline_run = serializers.CharField()
    source_root = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    counts = serializers.SerializerMethodField()
    error = serializers.DictField(
        allow_null=True,
        help_text="A failed scan's reason: `code` (invalid_report, upload_missing, "
        "import_failed, scan_stuck) and `message`; an invalid report adds format, pointer "
        "and reason (docs/ingestion.md, Queued imports).",
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.SerializerMethodField()
    decision_url = serializers.SerializerMethodField()

    def get_counts(self, scan) -> dict:
        """The import's counts with `results`, `findings`, `lost` and `suppressed` always
        present once imported (`skipped`: the former name of `lost`, one more version)."""
        if not scan.counts:
            return {}
        figures = result_counts(scan.counts)
        return {**scan.counts, **figures, "skipped": figures["lost"]}

    def get_status_url(self, scan) -> str:
        return reverse("v1:scan-detail", kwargs={"scan_id": scan.pk})

    def get_decision_url(self, scan) -> str:
        """The decisions that covered this scan (POST /api/v1/decisions/ makes one)."""
        return f"{reverse('v1:decision-list')}?scan={scan.pk}"


class ScanUploadOutputSerializer(ScanOutputSerializer):
    """The upload's answer: a scan, and whether it is a fresh import or a replay."""

    idempotent_replay = serializers.SerializerMethodField(
        help_text="True when these bytes were already the current report of their stream: "
        "nothing was imported and this is the earlier scan (HTTP 200); false on a fresh "
        "import (201) or a queued one (202)."
    )
    replay_of = serializers.SerializerMethodField(
        help_text="On a replay, the id of the original scan whose status and counts this "
        "answer shows (they describe that import, not this request); null otherwise."
    )

    repeat_of = serializers.SerializerMethodField(
        help_text="When the report said what its streams' last scan said, in other bytes: "
        "the id of the scan this one repeats, whose counts it carries (docs/ingestion.md, "
        "Repeated reports); null otherwise."
    )

    def get_idempotent_replay(self, scan) -> bool:
        return bool(self.context.get("replay"))

    def get_repeat_of(self, scan) -> int | None:
        return (scan.noise or {}).get("repeats_scan")

    def get_replay_of(self, scan) -> int | None:
        return scan.pk if self.context.get("replay") else None


class ScanDetailOutputSerializer(ScanOutputSerializer):
    noise = serializers.DictField()
    skipped = serializers.SerializerMethodField()

    def get_skipped(self, scan) -> list[dict]:
        """Entries `{pointer, reason, message, lost, suppressed}`; entries stored before
        `lost` existed carried only `lost_finding`."""
        return [skipped_entry(entry) for entry in scan.skipped or ()]


class ScanCollectionApi(TenantApi):
    scope_resource = "scans"
    # FIXOPS_UPLOAD_RATE counts these (fixops/platform/api/throttling.py); GETs poll free.
    upload_throttle_methods = ("POST",)
    pagination_class = KeysetPagination
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=False)
        application = serializers.CharField(max_length=200, help_text="Name or id.")
        commit = serializers.CharField(required=False, allow_blank=True, max_length=100)
        branch = serializers.CharField(required=False, allow_blank=True, max_length=255)
        pipeline_run = serializers.CharField(required=False, allow_blank=True, max_length=255)
        format = serializers.ChoiceField(
            choices=[],
            required=False,
            allow_blank=True,
            help_text="Override content-based detection.",
        )
        tool = serializers.CharField(required=False, allow_blank=True, max_length=100)
        target = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=300,
            help_text="What was scanned (image, directory, SBOM subject), used verbatim; "
            "default: what the report says, normalised (docs/ingestion.md).",
        )
        source_root = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=1000,
            help_text="The absolute directory the scanner saw the checkout at (a CI workspace "
            "or a container mount such as /src): absolute paths in the report are made "
            "relative to it (docs/ingestion.md, Paths). The CI client fills it from "
            "GITHUB_WORKSPACE, CI_PROJECT_DIR and the like.",
        )
        decide = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Gate in the same call: answer with the decision over the application "
            "after this import (needs a synchronous import; see FIXOPS_INGEST_ASYNC_BYTES).",
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["format"].choices = sorted(registry())

        def validate_source_root(self, value: str) -> str:
            problem = source_root_problem(value) if value.strip() else ""
            if problem:
                raise serializers.ValidationError(problem)
            return value

    class FilterSerializer(serializers.Serializer):
        application = serializers.IntegerField(required=False)
        status = serializers.ChoiceField(choices=ScanStatus.choices, required=False)
        format = serializers.CharField(required=False)
        branch = serializers.CharField(required=False)
        commit = serializers.CharField(required=False)
        target = serializers.CharField(required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ScanOutputSerializer(many=True),
        summary="List scans (keyset pages, newest first)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            scan_list(tenant=request.tenant, filters=filters.validated_data), request, self
        )
        return paginator.get_paginated_response(ScanOutputSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={
            201: ScanUploadOutputSerializer,
            200: ScanUploadOutputSerializer,
            202: ScanUploadOutputSerializer,
            **errors(404, 413),
        },
        examples=[
            OpenApiExample(
                "A SARIF report from CI",
                value={
                    "file": "(the report's bytes: semgrep.sarif)",
                    "application": "payments-api",
                    "branch": "main",
                    "commit": "9f1c2e7",
                    "pipeline_run": "ci-1234",
                    "source_root": "/builds/acme/payments-api",
                },
                request_only=True,
                media_type="multipart/form-data",
            )
        ],
        summary="Upload a scanner report",
        description="201: imported. 200: an idempotent replay: these bytes are already the "
        "current report of their stream, nothing was imported, and the answer is that "
        'earlier scan with `"idempotent_replay": true` and `replay_of` its id (its counts '
        "are the original import's). 202: queued for a worker; poll status_url.",
    )
    def post(self, request):
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.FIXOPS_UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD:
            raise TooLarge(
                f"The upload is {length} bytes; the limit is {settings.FIXOPS_UPLOAD_MAX_BYTES}.",
                code="too_large",
                details={"limit_bytes": settings.FIXOPS_UPLOAD_MAX_BYTES},
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        context = request.tenant_context
        if (
            values["decide"]
            and context.token
            and not scope_granted(context.token.scopes, "decisions:write")
        ):
            raise Forbidden(
                "decide=true needs the decisions:write scope as well as scans:write.",
                code="scope_missing",
                details={"required": {"scope": "decisions:write"}},
            )
        create_requires = _create_requires(request.tenant_context)
        scan, created = scan_submit(
            tenant=request.tenant,
            application_ref=values["application"],
            create_application=create_requires is None,
            create_requires=create_requires,
            upload=values["file"],
            format=values.get("format", ""),
            tool=values.get("tool", ""),
            commit=values.get("commit", ""),
            branch=values.get("branch", ""),
            pipeline_run=values.get("pipeline_run", ""),
            uploaded_by=actor_label(request),
            target=values.get("target", ""),
            source_root=values.get("source_root", ""),
        )
        code = status.HTTP_200_OK
        if created:
            code = status.HTTP_202_ACCEPTED if scan.status == ScanStatus.QUEUED else 201
        body = ScanUploadOutputSerializer(scan, context={"replay": not created}).data
        if values["decide"]:
            body["decision"] = _decide(request, scan.application, scan)
        return Response(body, status=code)


def _decide(request, application, scan) -> dict | None:
    """One-call gating. A queued import has no findings yet: no decision, and the answer says
    how to get one (poll status_url, then POST /api/v1/decisions/ with the scan id)."""
    if scan.status != ScanStatus.DONE:
        return None
    decision = decision_make(
        tenant=request.tenant,
        application=application,
        commit=scan.commit,
        branch=scan.branch,
        pipeline_run=scan.pipeline_run,
        scan_ids=[scan.pk],
        actor=actor_label(request),
    )
    return DecisionSerializer(decision_queryset(request.tenant).get(pk=decision.pk)).data


def _create_requires(context) -> dict[str, str] | None:
    """What the caller lacks to create an application on upload (None: nothing)."""
    if not role_at_least(context.role, Role.ANALYST):
        return {"role": Role.ANALYST.value}
    if context.token is not None and not scope_granted(context.token.scopes, "applications:write"):
        return {"scope": "applications:write"}
    return None


class ScanDetailApi(TenantApi):
    scope_resource = "scans"

    @extend_schema(responses=ScanDetailOutputSerializer, summary="One scan: status and counts")
    def get(self, request, scan_id: int):
        scan = scan_get(tenant=request.tenant, scan_id=scan_id)
        return Response(ScanDetailOutputSerializer(scan).data)
