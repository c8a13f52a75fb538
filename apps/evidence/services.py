"""Evidence services: sign, encrypt and record any statement it is given as a bundle, store the
bundle write-once after commit; read and verify it; key registry and retirement; re-encryption
under a new Fernet key; GRC export."""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.evidence import encryption
from apps.evidence.canonical import canonical_bytes, sha256_hex
from apps.evidence.keys import signer
from apps.evidence.models import BundleStatus, EvidenceBundle, EvidenceSettings, LockMode
from apps.evidence.registry import evidence_key_list, evidence_key_register, keyring
from apps.evidence.signing import SignedBundle, VerificationError, sign_document, verify_envelope
from apps.evidence.statement import rfc3339
from apps.evidence.storage import RetentionError, StorageError, get_storage
from apps.policies.digests import decision_subjects
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict

if TYPE_CHECKING:
    from apps.policies.models import Decision
    from apps.tenants.models import Tenant

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "fixops-evidence-export/v1"
MANIFEST_TYPE = "application/vnd.fixops.evidence-manifest+json"


class EvidenceTampered(Exception):
    """Stored bytes no longer match the digest recorded when the bundle was made."""


# Per-process caches for the hot path (one query each saved per bundle): a tenant's retention
# settings for RETENTION_TTL seconds, and which signing keys are already in the registry.
RETENTION_TTL = 30.0
_retention_cache: dict[int | None, tuple[float, int | None, str | None]] = {}
_registered: set[str] = set()


def _retention(tenant: Tenant | None) -> tuple[datetime, str]:
    tenant_id = tenant.pk if tenant is not None else None
    cached = _retention_cache.get(tenant_id)
    if cached is None or cached[0] < time.monotonic():
        custom = (
            EvidenceSettings.objects.for_tenant(tenant)
            .values("retention_days", "lock_mode")
            .first()
            if tenant is not None
            else None
        )
        cached = (
            time.monotonic() + RETENTION_TTL,
            custom["retention_days"] if custom else None,
            custom["lock_mode"] if custom else None,
        )
        _retention_cache[tenant_id] = cached
    days = cached[1] if cached[1] is not None else settings.FIXOPS_EVIDENCE_RETENTION_DAYS
    mode = cached[2] or settings.FIXOPS_EVIDENCE_LOCK_MODE
    return timezone.now() + timedelta(days=days), mode


def sign_and_store(
    *, tenant: Tenant | None, document: Any, key_name: str, payload_type: str | None = None
) -> tuple[SignedBundle, str, str, int, datetime, str]:
    """Sign `document`, encrypt the envelope, store it write-once; returns what was stored.
    Not for use inside a transaction that may roll back (the object cannot be deleted)."""
    signed, token = _sign_and_encrypt(document, payload_type)
    retain_until, mode = _retention(tenant)
    backend = settings.FIXOPS_EVIDENCE_STORAGE
    location = get_storage(backend).put(key_name, token, retain_until=retain_until, mode=mode)
    return signed, backend, location, len(token), retain_until, mode


def _sign_and_encrypt(document: Any, payload_type: str | None) -> tuple[SignedBundle, bytes]:
    key = signer()
    if key.keyid not in _registered:
        evidence_key_register(key=key, source=key.source)
        _registered.add(key.keyid)
    signed = (
        sign_document(document, key, payload_type=payload_type)
        if payload_type
        else sign_document(document, key)
    )
    return signed, encryption.encrypt(signed.envelope)


def bundle_create(
    *,
    tenant: Tenant,
    statement: dict[str, Any],
    name: str,
    decision: Decision | None = None,
) -> EvidenceBundle:
    """Sign `statement` (any in-toto statement), encrypt the envelope and record it as a
    pending bundle, of `decision` when it proves one, in the caller's transaction; nothing
    leaves the database. After commit the caller starts `bundle_store` (the beat task
    `bundles_store_pending` catches what that misses). `name` names the stored object."""
    signed, token = _sign_and_encrypt(statement, None)
    retain_until, mode = _retention(tenant)
    now = timezone.now()
    key = f"t{tenant.pk}/{now:%Y/%m/%d}/{name}-{secrets.token_hex(4)}.dsse.fernet"
    bundle = EvidenceBundle.objects.create(
        tenant_id=tenant.pk,
        decision=decision,
        envelope_digest=signed.envelope_digest,
        payload_digest=signed.payload_digest,
        subjects=statement.get("subject", []),
        keyid=signed.keyid,
        algorithm=signed.algorithm,
        backend=settings.FIXOPS_EVIDENCE_STORAGE,
        location=key,
        status=BundleStatus.PENDING,
        pending_token=token,
        size_bytes=len(signed.envelope),
        stored_bytes=len(token),
        retention_until=retain_until,
        lock_mode=mode if mode in LockMode.values else LockMode.COMPLIANCE,
        created_at=now,
    )
    after = {"name": name, "decision": bundle.decision_id, "keyid": bundle.keyid}
    _audit_bundle(bundle, "evidence.bundle_create", None, after)
    return bundle


def _audit_bundle(bundle: EvidenceBundle, action: str, before, after) -> None:
    audit_record(
        tenant=bundle.tenant,
        actor="system",
        action=action,
        target_type="evidence.evidencebundle",
        target_id=bundle.pk,
        before=before,
        after=after,
    )


def bundle_store(*, bundle_id: int) -> bool:
    """Store a pending bundle's object write-once and mark it stored; False when there is
    nothing to do (stored already, gone, or another worker holds it). Safe to repeat: an object
    an interrupted attempt stored is found under the same key, compared byte for byte and
    adopted."""
    with transaction.atomic():
        bundle = (
            EvidenceBundle.objects.select_for_update(skip_locked=True)
            .filter(pk=bundle_id, status=BundleStatus.PENDING)
            .first()
        )
        if bundle is None:
            return False
        token = bytes(bundle.pending_token)
        storage = get_storage(bundle.backend)
        try:
            location = storage.put(
                bundle.location, token, retain_until=bundle.retention_until, mode=bundle.lock_mode
            )
        except RetentionError:
            location = storage.locate(bundle.location)
            if storage.get(location) != token:
                raise EvidenceTampered(
                    f"another object is stored under bundle {bundle.pk}'s key {bundle.location}"
                ) from None
        bundle.location, bundle.status = location, BundleStatus.STORED
        bundle.stored_at, bundle.pending_token = timezone.now(), None
        bundle.save(update_fields=["location", "status", "stored_at", "pending_token"])
    logger.info("evidence bundle %s stored at %s", bundle_id, location)
    return True


# A pending bundle younger than this is left to the task its own commit started.
PENDING_GRACE = timedelta(seconds=10)


def bundles_store_pending(*, limit: int = 500) -> int:
    """Store every pending bundle older than PENDING_GRACE (a worker died, the broker lost the
    task, the store was down); returns how many were stored. A failure is logged and left
    pending for the next run."""
    cutoff = timezone.now() - PENDING_GRACE
    ids = list(
        EvidenceBundle.objects.filter(status=BundleStatus.PENDING, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    stored = 0
    for bundle_id in ids:
        try:
            stored += bundle_store(bundle_id=bundle_id)
        except (StorageError, EvidenceTampered):
            logger.exception("evidence bundle %s could not be stored; retrying later", bundle_id)
    return stored


def _pending(bundle: EvidenceBundle) -> Conflict:
    return Conflict(
        f"Evidence bundle {bundle.pk} is signed but not stored yet; try again shortly.",
        code="evidence_pending",
        details={"evidence": bundle.pk},
    )


def evidence_envelope(bundle: EvidenceBundle) -> bytes:
    """The envelope bytes exactly as signed (EvidenceTampered if they changed; Conflict
    `evidence_pending` before the object is stored)."""
    if bundle.status == BundleStatus.PENDING:
        raise _pending(bundle)
    token = get_storage(bundle.backend).get(bundle.location)
    try:
        envelope = encryption.decrypt(token)
    except InvalidToken:
        raise EvidenceTampered(
            f"bundle {bundle.pk} does not decrypt with any configured evidence key"
        ) from None
    if sha256_hex(envelope) != bundle.envelope_digest:
        raise EvidenceTampered(f"bundle {bundle.pk}'s bytes differ from their recorded digest")
    return envelope


@dataclass
class VerifyReport:
    valid: bool
    reason: str | None = None
    message: str = ""
    keyid: str | None = None
    algorithm: str | None = None
    checks: dict[str, str] = field(default_factory=dict)


def evidence_verify(bundle: EvidenceBundle) -> VerifyReport:
    """Read, decrypt and verify a bundle: digests, signature and its subjects. A
    pending bundle is not valid evidence yet: reason `pending`, nothing else checked."""
    report = VerifyReport(valid=False)
    if bundle.status == BundleStatus.PENDING:
        report.reason, report.message = "pending", "the bundle is signed but not stored yet"
        report.checks["stored"] = "pending"
        return report
    try:
        token = get_storage(bundle.backend).get(bundle.location)
        envelope = encryption.decrypt(token)
    except (StorageError, InvalidToken) as exc:
        report.reason, report.message = "unreadable", str(exc) or "does not decrypt"
        report.checks["stored"] = "failed"
        return report
    report.checks["stored"] = "ok"
    try:
        verified = verify_envelope(envelope, keyring(), expected_digest=bundle.envelope_digest)
    except VerificationError as exc:
        report.reason, report.message = exc.code, exc.message
        report.checks["signature"] = f"failed: {exc.code}"
        return report
    report.keyid, report.algorithm = verified.keyid, verified.algorithm
    report.checks["envelope_digest"] = "ok"
    report.checks["signature"] = "ok"
    if verified.payload_digest != bundle.payload_digest:
        report.reason, report.message = "digest_mismatch", "the signed payload's digest changed"
        report.checks["payload_digest"] = "failed"
        return report
    report.checks["payload_digest"] = "ok"
    # A decision's subjects are recomputed from its rows (an edited input or policy no longer
    # matches); another document's are compared with what was recorded beside it.
    expected = (
        decision_subjects(bundle.decision, recompute=True)
        if bundle.decision_id is not None
        else bundle.subjects
    )
    if verified.statement.get("subject") != expected:
        report.reason = "digest_mismatch"
        report.message = (
            "the decision's inputs no longer match the signed subjects"
            if bundle.decision_id is not None
            else "the recorded subjects no longer match the signed ones"
        )
        report.checks["subjects"] = "failed"
        return report
    report.checks["subjects"] = "ok"
    report.valid, report.message = True, "valid"
    return report


def evidence_reencrypt(*, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every bundle not under the primary Fernet key. The envelope (and so the
    signature and digests) is unchanged; the new ciphertext is a new write-once object, the
    old one expires with its retention."""
    counts = {"rotated": 0, "current": 0}
    last_id = 0
    while True:
        # Pending bundles are skipped: their object does not exist yet (the next run gets them).
        stored = EvidenceBundle.objects.filter(status=BundleStatus.STORED)
        batch = list(stored.filter(pk__gt=last_id).order_by("pk")[:batch_size])
        if not batch:
            return counts
        for bundle in batch:
            last_id = bundle.pk
            storage = get_storage(bundle.backend)
            token = storage.get(bundle.location)
            if encryption.is_current(token):
                counts["current"] += 1
                continue
            envelope = encryption.decrypt(token)
            if sha256_hex(envelope) != bundle.envelope_digest:
                raise EvidenceTampered(f"bundle {bundle.pk} changed; not re-encrypting it")
            fresh = encryption.rotate(token)
            generation = bundle.encryption_generation + 1
            stem = bundle.file_name.removesuffix(".dsse.json")
            name = f"t{bundle.tenant_id}/rotated/{stem}-g{generation}-"
            name += f"{secrets.token_hex(4)}.dsse.fernet"
            location = storage.put(
                name, fresh, retain_until=bundle.retention_until, mode=bundle.lock_mode
            )
            before = {"generation": bundle.encryption_generation, "location": bundle.location}
            bundle.location, bundle.stored_bytes = location, len(fresh)
            bundle.encryption_generation, bundle.rotated_at = generation, timezone.now()
            with transaction.atomic():
                bundle.save(
                    update_fields=[
                        "location",
                        "stored_bytes",
                        "encryption_generation",
                        "rotated_at",
                    ]
                )
                after = {"generation": generation, "location": location}
                _audit_bundle(bundle, "evidence.reencrypt", before, after)
            counts["rotated"] += 1


def evidence_export(
    *, tenant: Tenant, since: datetime | None, until: datetime | None, bundle_ids=None
) -> bytes:
    """A zip: bundles/*.dsse.json as signed, keys/*.pem, keys.json, and manifest.dsse.json (a
    signed list of every bundle with its sha256) that `manage.py verify_evidence` checks.
    Pending bundles are left out: an export holds only evidence that is stored."""
    queryset = (
        EvidenceBundle.objects.for_tenant(tenant).filter(status=BundleStatus.STORED).order_by("id")
    )
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lt=until)
    if bundle_ids is not None:
        queryset = queryset.filter(pk__in=bundle_ids)
    buffer = io.BytesIO()
    entries = []
    used_keys: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for bundle in queryset.iterator(chunk_size=500):
            envelope = evidence_envelope(bundle)
            path = f"bundles/{bundle.file_name}"
            archive.writestr(path, envelope)
            used_keys.add(bundle.keyid)
            entries.append(
                {
                    "file": path,
                    "sha256": bundle.envelope_digest,
                    "payloadSha256": bundle.payload_digest,
                    "bundleId": bundle.pk,
                    "decisionId": bundle.decision_id,
                    "keyid": bundle.keyid,
                    "createdAt": rfc3339(bundle.created_at),
                    "subjects": bundle.subjects,
                }
            )
        current = signer()
        keys = []
        for info in evidence_key_list():
            if info.keyid not in used_keys and info.keyid != current.keyid:
                continue
            archive.writestr(f"keys/{info.keyid}.pem", info.pem)
            keys.append(
                {
                    "keyid": info.keyid,
                    "algorithm": info.algorithm,
                    "file": f"keys/{info.keyid}.pem",
                    "status": info.status,
                    "retiredAt": rfc3339(info.retired_at) if info.retired_at else None,
                }
            )
        archive.writestr("keys.json", json.dumps(keys, indent=2))
        manifest = {
            "format": EXPORT_FORMAT,
            "tenant": tenant.slug,
            "from": rfc3339(since) if since else None,
            "to": rfc3339(until) if until else None,
            "time": rfc3339(timezone.now()),
            "bundles": entries,
        }
        archive.writestr("manifest.json", canonical_bytes(manifest))
        archive.writestr(
            "manifest.dsse.json",
            sign_document(manifest, current, payload_type=MANIFEST_TYPE).envelope,
        )
    return buffer.getvalue()


def evidence_settings_save(*, settings_row: EvidenceSettings, actor: str) -> EvidenceSettings:
    """Save a tenant's retention settings and audit the change (future bundles only)."""
    with transaction.atomic():
        before = (
            EvidenceSettings.objects.filter(pk=settings_row.pk)
            .values("retention_days", "lock_mode")
            .first()
        )
        settings_row.updated_at = timezone.now()
        settings_row.save()
        _retention_cache.pop(settings_row.tenant_id, None)
        audit_record(
            tenant=settings_row.tenant,
            actor=actor,
            action="evidence.settings_changed",
            target_type="evidence_settings",
            target_id=settings_row.pk,
            before=before,
            after={
                "retention_days": settings_row.retention_days,
                "lock_mode": settings_row.lock_mode,
            },
        )
    return settings_row
