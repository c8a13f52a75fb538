from django.apps import AppConfig


class FindingsConfig(AppConfig):
    name = "apps.findings"
    label = "findings"
    verbose_name = "Findings"
    default_auto_field = "django.db.models.BigAutoField"
