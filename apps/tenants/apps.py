from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    verbose_name = "Tenants and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The SSO configuration checks and the Bearer scheme of the API schema.
        import apps.tenants.api.schema  # noqa: F401
        import apps.tenants.checks  # noqa: F401
