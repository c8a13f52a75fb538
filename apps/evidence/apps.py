from django.apps import AppConfig

# Imported for their system checks (no signing key in production, unusable keys); neither
# module touches models, so they load with the app config.
from apps.evidence import encryption, keys  # noqa: F401


class EvidenceConfig(AppConfig):
    """Signed evidence bundles, their storage, and the audit log's signed checkpoints."""

    name = "apps.evidence"
    label = "evidence"
    verbose_name = "Evidence and audit"
    default_auto_field = "django.db.models.BigAutoField"
