from django.apps import AppConfig


class IntelConfig(AppConfig):
    """Vulnerability intelligence (CVSS, EPSS, KEV, OSV) and the risk model."""

    name = "apps.intel"
    label = "intel"
    verbose_name = "Vulnerability intelligence"
    default_auto_field = "django.db.models.BigAutoField"
