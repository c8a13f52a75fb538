"""Add the shipped policy pack as a new version of the global default policy."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.policies.digests import policy_digest
from apps.policies.models import PolicyVersion
from apps.policies.services import (
    default_policy_ensure,
    pack,
    policy_activate,
    policy_version_add,
)


class Command(BaseCommand):
    help = (
        "Add the shipped default pack as a new version of the global default policy when its "
        "digest differs from the latest version; --activate makes it the active version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--activate", action="store_true", help="Activate the new version.")

    def handle(self, *args, activate: bool, **options):
        policy = default_policy_ensure()
        source, parameters = pack()
        latest = PolicyVersion.objects.filter(policy=policy).order_by("-number").first()
        version = latest
        if latest is None or latest.digest != policy_digest(source, parameters):
            version = policy_version_add(
                policy=policy,
                source=source,
                parameters=parameters,
                actor="manage.py load_policy_pack",
                note="shipped default pack",
                activate=activate,
            )
            self.stdout.write(f"added version {version.number} ({version.digest[:12]})")
        else:
            self.stdout.write(f"version {latest.number} already holds the shipped pack")
        if activate and policy.active_version_id != version.pk:
            policy_activate(policy=policy, number=version.number, actor="load_policy_pack")
            self.stdout.write(f"activated version {version.number}")
