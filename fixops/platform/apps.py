from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The platform layer's tables (events, audit log, circuit breakers): no app owns them."""

    name = "fixops.platform"
    label = "platform"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the encryption-key, throttle-rate and outbound-proxy system checks.
        from fixops.platform import keyring  # noqa: F401
        from fixops.platform.api import throttling  # noqa: F401
        from fixops.platform.http import session  # noqa: F401
