from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """Integrations, the transactional outbox and vendor connectors."""

    name = "apps.connectors"
    label = "connectors"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"
