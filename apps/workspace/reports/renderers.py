"""DRF renderers for the report endpoints: each writes the report document (the view's
response data) in its format. Errors never reach them: the report views answer errors in
JSON, the API's error shape (apps/workspace/api/reports.py)."""

from __future__ import annotations

from rest_framework.renderers import BaseRenderer

from apps.workspace.reports import formats


class ReportHtmlRenderer(BaseRenderer):
    media_type = "text/html"
    format = "html"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return formats.to_html(data).encode()


class ReportPdfRenderer(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return formats.to_pdf(data)


class ReportCsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return formats.to_csv(data).encode()
