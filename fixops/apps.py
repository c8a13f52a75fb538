from django.apps import AppConfig


class FixOpsConfig(AppConfig):
    """The composition root as an app: the heartbeat table, the demo and project commands."""

    name = "fixops"
    label = "fixops"
    verbose_name = "FixOps processes"
    default_auto_field = "django.db.models.BigAutoField"
