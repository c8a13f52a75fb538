from django.apps import AppConfig


class FixOpsConfig(AppConfig):
    """Project plumbing (heartbeat, schedules), an app for its table and commands."""

    name = "fixops"
    label = "fixops"
    verbose_name = "FixOps platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from fixops.platform import keyring  # noqa: F401 - registers the encryption-key system check
