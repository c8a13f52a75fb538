"""manage.py rotate_evidence_keys

- default: re-encrypt every stored bundle under the first Fernet key of
  FIXOPS_EVIDENCE_ENCRYPTION_KEYS (or FIXOPS_ENCRYPTION_KEYS); the signed bytes do not change.
- --generate-signing-key PATH [--algorithm ...]: write a new private key (mode 0600) to
  configure as FIXOPS_EVIDENCE_SIGNING_KEY; its public key verifies from then on.
- --retire-key KEYID [--at ISO-8601]: signatures that key makes after that moment fail.
"""

from __future__ import annotations

import os
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from apps.evidence.keys import ALGORITHMS, ED25519, UnusableKey, generate, private_pem


class Command(BaseCommand):
    help = "Re-encrypt evidence under the newest Fernet key; generate or retire signing keys."

    def add_arguments(self, parser):
        parser.add_argument("--generate-signing-key", metavar="PATH")
        parser.add_argument("--algorithm", choices=ALGORITHMS, default=ED25519)
        parser.add_argument("--retire-key", metavar="KEYID")
        parser.add_argument("--at", help="retirement moment (ISO 8601), default now")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, **options):
        if options["generate_signing_key"]:
            return self._generate(options["generate_signing_key"], options["algorithm"])
        if options["retire_key"]:
            return self._retire(options["retire_key"], options["at"])
        from apps.evidence.services import evidence_reencrypt

        counts = evidence_reencrypt(batch_size=options["batch_size"])
        self.stdout.write(
            f"re-encrypted {counts['rotated']} bundle(s); {counts['current']} already current"
        )

    def _generate(self, path: str, algorithm: str) -> None:
        try:
            key = generate(algorithm)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists; choose a new file") from None
        except UnusableKey as exc:
            raise CommandError(str(exc)) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_pem(key))
        self.stdout.write(
            f"wrote {algorithm} key {key.keyid} to {path}; set FIXOPS_EVIDENCE_SIGNING_KEY={path}"
        )

    def _retire(self, keyid: str, at: str | None) -> None:
        from apps.evidence.registry import evidence_key_retire

        try:
            moment = datetime.fromisoformat(at) if at else None
        except ValueError:
            raise CommandError(f"--at {at!r} is not an ISO 8601 date-time") from None
        if moment is not None and moment.tzinfo is None:
            raise CommandError("--at needs a time zone (e.g. 2026-01-31T00:00:00+00:00)")
        try:
            row = evidence_key_retire(keyid=keyid, at=moment, actor="command:rotate_evidence_keys")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"retired key {row.keyid} at {row.retired_at.isoformat()}")
