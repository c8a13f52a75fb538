from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Rego policies, decisions and risk acceptances."""

    name = "apps.policies"
    label = "policies"
    verbose_name = "Policies and decisions"
    default_auto_field = "django.db.models.BigAutoField"
