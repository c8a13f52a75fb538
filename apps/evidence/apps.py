from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    """Signed evidence bundles, their storage and the audit log."""

    name = "apps.evidence"
    label = "evidence"
    verbose_name = "Evidence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks: no signing key in production, unusable keys.
        from apps.evidence import encryption, keys  # noqa: F401
