"""manage.py restore FILE [--database-url URL] — restore a backup into an empty database, in
one transaction, then compare every table's count with the backup's (docs/operations.md,
"Backups"). Needs the platform keyring (FIXOPS_ENCRYPTION_KEYS) that made the backup."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fixops.backups import (
    BackupError,
    backup_restore,
    keyring_fingerprints,
    restored_counts,
)
from fixops.backups import database_url as default_url


class Command(BaseCommand):
    help = "Restore an encrypted backup into an empty PostgreSQL database."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="the backup file")
        parser.add_argument(
            "--database-url", default="", help="the empty target (default: DATABASE_URL)"
        )
        parser.add_argument(
            "--fingerprints", action="store_true", help="print this keyring's key fingerprints"
        )

    def handle(self, *args, file, database_url: str, fingerprints, **options):
        if fingerprints:
            for fingerprint in keyring_fingerprints():
                self.stdout.write(fingerprint)
            return
        if not file:
            raise CommandError("name the backup file to restore")
        try:
            restored = backup_restore(Path(file), url=database_url)
            counts = restored_counts(database_url or default_url())
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        expected = restored.summary.get("tables", {})
        different = {t: (n, counts.get(t)) for t, n in expected.items() if counts.get(t) != n}
        if different:
            raise CommandError(f"restored, but table counts differ from the backup: {different}")
        self.stdout.write(
            f"restored {file}: {len(expected)} tables, {sum(expected.values()):,} rows (counts "
            f"match), {len(restored.bundles):,} evidence bundles in the manifest, "
            f"{restored.seconds:.1f} s. Next: migrate, sync_schedules, verify_audit_chain."
        )
