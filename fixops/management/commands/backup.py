"""manage.py backup FILE — an encrypted, streamed backup of the database and the evidence
manifest (docs/operations.md, "Backups"). `--inspect FILE` prints a backup's header."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fixops.backups import BackupError, backup_create, backup_header


class Command(BaseCommand):
    help = "Write an encrypted backup (pg_dump + evidence manifest + key fingerprints) to FILE."

    def add_arguments(self, parser):
        parser.add_argument("file", help="where to write it, e.g. fixops-2026-12-06.backup")
        parser.add_argument("--inspect", action="store_true", help="print FILE's header instead")
        parser.add_argument("--database-url", default="", help="back up this database instead")

    def handle(self, *args, file, inspect, database_url, **options):
        path = Path(file)
        try:
            if inspect:
                header = backup_header(path)[0]
                header.pop("wrapped_key", None)
                self.stdout.write(json.dumps(header, indent=2))
                return
            if path.exists():
                raise CommandError(f"{path} exists: backups are never overwritten")
            made = backup_create(path, url=database_url)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        tables = made.manifest["tables"]
        self.stdout.write(
            f"backup {path}: {made.bytes_written:,} bytes, {len(tables)} tables, "
            f"{sum(tables.values()):,} rows, {made.manifest['bundles']:,} evidence bundles, "
            f"{made.seconds:.1f} s; restore needs the platform key "
            f"{made.header['keys']['platform'][0]}"
        )
