"""Choosing a representation with `?format=`, for the views that offer several.

DRF's URL_FORMAT_OVERRIDE is off (fixops/settings/components/drf.py): on every other view
`format` is an ordinary query parameter (GET /api/v1/scans/?format=sarif filters scans by
report format), where DRF would have taken it as a renderer name and answered 404. A view
that serves a document in several representations (JSON, SARIF, CSV, PDF: the reports of
the workspace) lists its renderers and opts in:

    class ReportApi(TenantApi):
        renderer_classes = [JSONRenderer, SarifRenderer, CsvRenderer]
        content_negotiation_class = QueryFormatNegotiation

`?format=<renderer.format>` then picks the renderer; without it, the Accept header does, as
everywhere. An unknown format is a 400 naming the ones offered (DRF's default is a 404,
which reads as "no such report").
"""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation

FORMAT_PARAM = "format"


class QueryFormatNegotiation(DefaultContentNegotiation):
    """`?format=` selects among the view's renderers; 400 for a format it does not offer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        wanted = format_suffix or request.query_params.get(FORMAT_PARAM)
        if wanted:
            chosen = [r for r in renderers if r.format == wanted]
            if not chosen:
                offered = sorted({r.format for r in renderers})
                raise ValidationError(
                    {FORMAT_PARAM: [f"{wanted!r} is not offered here; choose one of {offered}."]}
                )
            # An explicit format wins over Accept (a browser link sends Accept: text/html).
            return chosen[0], chosen[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
