from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    verbose_name = "Tenants and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the Bearer scheme with drf-spectacular.
        # Registers the SSO configuration checks.
        import apps.tenants.checks  # noqa: F401
        import fixops.platform.api.openapi  # noqa: F401
