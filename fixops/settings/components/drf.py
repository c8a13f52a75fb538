"""Django REST framework and drf-spectacular."""

from __future__ import annotations

from fixops.env import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.tenants.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        # JSON bodies cleaned of NUL and unpaired surrogates (U+FFFD) before any view sees them.
        "fixops.platform.api.parsers.CleanJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "fixops.platform.api.pagination.PagePagination",
    "PAGE_SIZE": env.int("FIXOPS_API_PAGE_SIZE", default=50),
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.NamespaceVersioning",
    "ALLOWED_VERSIONS": ["v1"],
    # Also what `manage.py spectacular` documents when no --api-version is given.
    "DEFAULT_VERSION": "v1",
    "DEFAULT_SCHEMA_CLASS": "fixops.platform.api.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "fixops.platform.api.errors.exception_handler",
    # Limits per credential, per tenant and for uploads, counted in the shared cache
    # (fixops/platform/api/throttling.py; the rates are FIXOPS_*_RATE in settings/base.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "fixops.platform.api.throttling.CredentialRateThrottle",
        "fixops.platform.api.throttling.TenantRateThrottle",
        "fixops.platform.api.throttling.UploadRateThrottle",
    ],
    # `?format=` is an ordinary query parameter (GET /scans/?format=sarif filters by report
    # format). DRF's default would take it to pick a renderer and answer 404 for any value
    # that names none. Views that serve several representations choose them with
    # `?format=` explicitly: content_negotiation_class = QueryFormatNegotiation
    # (fixops/platform/api/negotiation.py).
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "FixOps API",
    "DESCRIPTION": (
        "Ingest scanner reports, read deduplicated risk-ranked findings, gate pipelines and "
        "prove every decision. Authenticate with `Authorization: Bearer <token>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Swagger UI assets come from drf-spectacular-sidecar: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}
