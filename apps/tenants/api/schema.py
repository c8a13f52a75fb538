"""The API token scheme in the OpenAPI schema (drf-spectacular finds it by the class it names;
registered when the tenants app is ready)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.tenants.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A FixOps API token: `fxo_<prefix>_<secret>`.",
        }
