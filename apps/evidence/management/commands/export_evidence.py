"""manage.py export_evidence --tenant SLUG [--from ISO] [--to ISO] -o FILE.zip"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.evidence.services import evidence_export
from apps.tenants.models import Tenant


def _moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--{name} {value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise CommandError(f"--{name} needs a time zone (e.g. +00:00)")
    return moment


class Command(BaseCommand):
    help = "Write a tenant's evidence (bundles, public keys, signed manifest) to a zip."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--from", dest="since")
        parser.add_argument("--to", dest="until")
        parser.add_argument("-o", "--output", required=True)

    def handle(self, *args, tenant, since, until, output, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"no tenant {tenant!r}")
        data = evidence_export(
            tenant=found, since=_moment(since, "from"), until=_moment(until, "to")
        )
        Path(output).write_bytes(data)
        self.stdout.write(f"wrote {len(data)} bytes to {output}")
