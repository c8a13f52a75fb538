from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_default_policy(sender, **kwargs) -> None:
    # Services import models, which Django loads only after this module: the one import
    # that has to wait until the app registry is ready.
    from apps.policies.services import default_policy_ensure  # noqa: PLC0415

    default_policy_ensure()


class PoliciesConfig(AppConfig):
    """Rego policies, decisions and risk acceptances."""

    name = "apps.policies"
    label = "policies"
    verbose_name = "Decisions and policies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A fresh install gates with the shipped pack from its first decision.
        post_migrate.connect(_ensure_default_policy, sender=self)
