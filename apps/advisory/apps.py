from django.apps import AppConfig


class AdvisoryConfig(AppConfig):
    """Optional AI advice: model providers, their adapters, redaction, prompts and budgets."""

    name = "apps.advisory"
    label = "advisory"
    verbose_name = "AI advisory"
    default_auto_field = "django.db.models.BigAutoField"
