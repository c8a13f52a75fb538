"""Reports over the API: one application's, or the whole tenant's, as JSON (the document),
HTML, PDF or CSV (docs/workspace.md, "Reports")."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.findings.selectors import application_get
from apps.tenants.api.base import TenantApi
from apps.workspace.reports import formats, pdf
from apps.workspace.reports.document import report_application, report_tenant
from apps.workspace.reports.renderers import (
    ReportCsvRenderer,
    ReportHtmlRenderer,
    ReportPdfRenderer,
)
from fixops.platform.api.negotiation import QueryFormatNegotiation
from fixops.platform.api.openapi import errors


class FormatQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=["json", *formats.FORMATS],
        required=False,
        help_text="The representation; over the Accept header. Unknown: 400.",
    )


# One description for the four representations (the schema shows one per status).
_OK = (
    "The report: the document as JSON; one HTML page (its stylesheet from /static/, "
    "Content-Disposition inline); an A4 PDF or a CSV (one table per section, each row led "
    "by its section's name), both as attachments with a safe file name."
)
RESPONSES = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description=_OK),
    (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description=_OK),
    (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description=_OK),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=_OK),
    **errors(406, 503),
}


class _ReportApi(TenantApi):
    """Offers the report's formats by `?format=` or Accept; errors stay JSON."""

    scope_resource = "reports"
    renderer_classes = [JSONRenderer, ReportHtmlRenderer, ReportPdfRenderer, ReportCsvRenderer]
    content_negotiation_class = QueryFormatNegotiation

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400 or getattr(response, "exception", False):
            # The error body is the API's JSON, whatever format was asked for.
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def respond(self, request, document: dict) -> Response:
        response = Response(document)
        fmt = request.accepted_renderer.format
        if fmt == "pdf":
            pdf.require()  # here, not in the renderer: a 503 in the error shape
        if fmt in formats.FORMATS:
            response["Content-Disposition"] = formats.content_disposition(document, fmt)
        return response


class ApplicationReportApi(_ReportApi):
    @extend_schema(
        parameters=[FormatQuerySerializer],
        responses=RESPONSES,
        summary="Report of one application",
        description="Posture, SLA, exceptions (risk acceptances, including tenant-wide "
        "ones), recent decisions and their evidence. `?format=html|pdf|csv|json` or Accept.",
    )
    def get(self, request, application_id: int):
        application = application_get(tenant=request.tenant, application_id=application_id)
        document = report_application(
            tenant=request.tenant, application=application, link=request.build_absolute_uri
        )
        return self.respond(request, document)


class TenantReportApi(_ReportApi):
    @extend_schema(
        parameters=[FormatQuerySerializer],
        responses=RESPONSES,
        summary="Report of the tenant",
        description="The application report's sections over every application, plus the "
        "riskiest applications. `?format=html|pdf|csv|json` or Accept.",
    )
    def get(self, request):
        document = report_tenant(tenant=request.tenant, link=request.build_absolute_uri)
        return self.respond(request, document)
