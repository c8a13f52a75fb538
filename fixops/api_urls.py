"""Version 1 of the API. A breaking change earns api_v2 beside it, calling the same services."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.tenants.api.urls")),
    path("", include("apps.findings.api.urls")),
    path("", include("apps.pipeline.api.urls")),
    path("", include("apps.evidence.api.urls")),
    path("", include("apps.policies.api.urls")),
    path("", include("apps.connectors.api.urls")),
    path("", include("apps.advisory.api.advice_urls")),
    path("", include("apps.advisory.api.urls")),
    path("", include("apps.workspace.api.urls")),
]
