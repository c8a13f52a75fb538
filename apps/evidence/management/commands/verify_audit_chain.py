"""manage.py verify_audit_chain [--tenant SLUG]: exit 0 when every chain is intact, 1 with each
edited, inserted, deleted or truncated row otherwise."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.evidence.checkpoints import audit_chain_verify
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_chain_ids


class Command(BaseCommand):
    help = "Verify the hash chains and signed checkpoints of the audit log."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant slug (default: every chain)")

    def handle(self, *args, tenant=None, **options):
        if tenant:
            found = Tenant.objects.filter(slug=tenant).first()
            if found is None:
                raise CommandError(f"no tenant {tenant!r}")
            chains = [found.pk]
        else:
            chains = audit_chain_ids()
        broken = 0
        for tenant_id in chains:
            report = audit_chain_verify(tenant_id=tenant_id)
            if report.ok:
                self.stdout.write(
                    f"OK {report.chain}: {report.events} events, {report.checkpoints} checkpoints"
                )
                continue
            broken += 1
            for problem in report.problems:
                self.stderr.write(f"FAIL {report.chain}: {problem}")
        if broken:
            raise CommandError(f"{broken} audit chain(s) failed verification", returncode=1)
