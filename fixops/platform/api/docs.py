"""The OpenAPI schema and its Swagger UI, for authenticated callers unless made public.

The schema lists every operation, parameter and error code: a map for an attacker as much as for
a client author. With FIXOPS_PUBLIC_API_DOCS off (the default wherever secrets are required) the
schema needs a signed-in session or an API token and answers 401 in the error shape otherwise;
the docs page sends a browser to the sign-in page and back.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer

from fixops.platform.api.negotiation import QueryFormatNegotiation


class ApiDocsAccess(BasePermission):
    """Anyone when FIXOPS_PUBLIC_API_DOCS is on, else an authenticated session or token."""

    def has_permission(self, request, view) -> bool:
        if settings.FIXOPS_PUBLIC_API_DOCS:
            return True
        return bool(request.user and request.user.is_authenticated)


class SchemaView(SpectacularAPIView):
    permission_classes = [ApiDocsAccess]
    # `/api/schema/?format=json` picks the JSON rendering (URL_FORMAT_OVERRIDE is off for the
    # API, where format is a filter; this view opts in: docs/api.md, "?format=").
    content_negotiation_class = QueryFormatNegotiation

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        # Errors leave as JSON in the API's error shape, not as an OpenAPI YAML document.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class DocsView(SpectacularSwaggerSplitView):
    permission_classes = [ApiDocsAccess]

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path(), settings.LOGIN_URL)
        return super().handle_exception(exc)
