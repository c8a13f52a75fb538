"""manage.py verify_evidence FILE... [--public-key PEM]...

Verifies DSSE bundle files and export zips offline. Exit 0 when everything verifies; 1 with
the reason (bad_signature, unknown_key, digest_mismatch, key_retired, malformed, missing,
unlisted) otherwise. Without --public-key a zip is checked against the keys it carries and a
single bundle against this installation's keyring.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.evidence.keys import UnusableKey, load_public_pem, read_material
from apps.evidence.verification import verify_file


class Command(BaseCommand):
    help = "Verify evidence bundles (DSSE JSON) or export zips offline."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="bundle .dsse.json files or export zips")
        parser.add_argument(
            "--public-key",
            action="append",
            default=[],
            help="a trusted public key PEM file (repeatable)",
        )

    def handle(self, *args, files, public_key, **options):
        keys = None
        if public_key:
            try:
                loaded = [load_public_pem(read_material(path)) for path in public_key]
            except UnusableKey as exc:
                raise CommandError(f"--public-key: {exc}") from None
            keys = {key.keyid: key for key in loaded}
        failures = 0
        for name in files:
            path = Path(name)
            file_keys = keys
            if file_keys is None and not _is_zip(path):
                from apps.evidence.registry import keyring

                file_keys = keyring()
            for outcome in verify_file(path, file_keys):
                if outcome.ok:
                    self.stdout.write(f"OK {outcome.name} (keyid {outcome.keyid})")
                else:
                    failures += 1
                    self.stderr.write(f"FAIL {outcome.name}: {outcome.code}: {outcome.message}")
        if failures:
            raise CommandError(f"{failures} verification failure(s)", returncode=1)
        self.stdout.write("all evidence verified")


def _is_zip(path: Path) -> bool:
    import zipfile

    return path.is_file() and zipfile.is_zipfile(path)
