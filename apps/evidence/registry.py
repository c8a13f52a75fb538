"""The installation's registry of evidence public keys: what verifies bundles after a key
rotates, and retirement (a retired key's later signatures no longer verify). Keys are not
tenant data: their changes are audited on the global chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.evidence.keys import PublicKey, SigningKey, configured_verifiers, load_public_pem, signer
from apps.evidence.models import EvidenceKey
from fixops.platform.audit import audit_record


def _audit(action: str, row: EvidenceKey, actor: str, before, after) -> None:
    audit_record(
        tenant=None,
        actor=actor,
        action=action,
        target_type="evidence.evidencekey",
        target_id=row.keyid,
        before=before,
        after=after,
    )


def evidence_key_register(*, key: SigningKey | PublicKey, source: str) -> None:
    """Record a public key in the registry (idempotent), so it verifies after rotation."""
    public = key.public if isinstance(key, SigningKey) else key
    if EvidenceKey.objects.filter(keyid=public.keyid).exists():
        return
    with transaction.atomic():
        rows = EvidenceKey.objects.bulk_create(
            [
                EvidenceKey(
                    keyid=public.keyid,
                    algorithm=public.algorithm,
                    public_pem=public.pem,
                    source=source,
                )
            ],
            ignore_conflicts=True,
        )
        after = {"algorithm": public.algorithm, "source": source}
        _audit("evidence.key_register", rows[0], "system", None, after)


def keyring() -> dict[str, PublicKey]:
    """Every key this installation trusts, by keyid: the registry (with retirement dates), the
    configured verification keys and the current signing key."""
    keys: dict[str, PublicKey] = {}
    for row in EvidenceKey.objects.all():
        keys[row.keyid] = load_public_pem(row.public_pem.encode(), row.algorithm).with_retirement(
            row.retired_at
        )
    for key in (*configured_verifiers(), signer().public):
        if key.keyid not in keys:
            keys[key.keyid] = key
    return keys


@dataclass(frozen=True)
class KeyInfo:
    keyid: str
    algorithm: str
    pem: str
    status: str  # active | retired
    signing: bool
    source: str
    created_at: datetime | None = None
    retired_at: datetime | None = None


def evidence_key_list() -> list[KeyInfo]:
    """Public keys with their status: the signing key first, then active, then retired."""
    current = signer()
    rows = {row.keyid: row for row in EvidenceKey.objects.all()}
    infos = []
    for keyid, key in keyring().items():
        row = rows.get(keyid)
        infos.append(
            KeyInfo(
                keyid=keyid,
                algorithm=key.algorithm,
                pem=key.pem,
                status="retired" if key.retired_at else "active",
                signing=keyid == current.keyid,
                source=row.source
                if row
                else ("signing" if keyid == current.keyid else "configured"),
                created_at=row.created_at if row else None,
                retired_at=key.retired_at,
            )
        )
    infos.sort(key=lambda i: (not i.signing, i.status == "retired", i.keyid))
    return infos


def evidence_key_retire(
    *, keyid: str, at: datetime | None = None, actor: str = "system"
) -> EvidenceKey:
    """Retire a key: signatures it makes after `at` (default now) no longer verify."""
    if keyid == signer().keyid:
        raise ValueError("the current signing key cannot be retired; configure a new one first")
    for key in configured_verifiers():
        if key.keyid == keyid:
            evidence_key_register(key=key, source="configured")
    with transaction.atomic():
        row = EvidenceKey.objects.select_for_update().filter(keyid=keyid).first()
        if row is None:
            raise ValueError(f"no registered key has keyid {keyid}")
        before = {"retired_at": row.retired_at}
        row.retired_at = at or timezone.now()
        row.save(update_fields=["retired_at"])
        _audit("evidence.key_retire", row, actor, before, {"retired_at": row.retired_at})
    return row
