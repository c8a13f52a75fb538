"""Signed checkpoints of the platform's audit chains, and chain verification with them.

The chains themselves (fixops/platform/audit.py) detect edited, inserted and deleted rows.
A checkpoint, signed on a beat schedule, pins a chain's head (sequence number and hash) in a
DSSE statement stored write-once, so cutting rows off the end of a chain is detected too, even
when the head row is rewritten to match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from apps.evidence.models import AuditCheckpoint
from apps.evidence.registry import keyring
from apps.evidence.services import sign_and_store
from apps.evidence.signing import VerificationError, verify_envelope
from apps.evidence.statement import checkpoint_statement
from apps.tenants.models import Tenant
from fixops.platform.audit import ChainWalk, audit_chain_head, audit_chain_heads, audit_chain_walk


@dataclass
class ChainReport:
    chain: str
    events: int = 0
    problems: list[str] = field(default_factory=list)
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _chain_name(tenant_id: int | None) -> str:
    if tenant_id is None:
        return "global"
    slug = Tenant.objects.filter(pk=tenant_id).values_list("slug", flat=True).first()
    return slug or f"tenant-{tenant_id}"


def audit_chain_verify(*, tenant_id: int | None) -> ChainReport:
    """Walk one chain (edited, deleted, inserted rows; a head that does not match the last
    row) and check its signed checkpoints (signatures; rows cut off the end)."""
    walk = audit_chain_walk(tenant_id=tenant_id)
    report = ChainReport(chain=_chain_name(tenant_id), events=walk.events)
    report.problems.extend(walk.problems)
    _check_checkpoints(report, walk)
    return report


def _check_checkpoints(report: ChainReport, walk: ChainWalk) -> None:
    keys = keyring()
    checkpoints = AuditCheckpoint.objects.filter(tenant_id=walk.tenant_id).order_by("seq")
    for checkpoint in checkpoints:
        report.checkpoints += 1
        try:
            verified = verify_envelope(bytes(checkpoint.envelope), keys)
        except VerificationError as exc:
            report.problems.append(f"checkpoint {checkpoint.pk} does not verify: {exc.message}")
            continue
        predicate = verified.statement.get("predicate", {})
        seq, head_hash = predicate.get("seq"), predicate.get("headHash")
        if not isinstance(seq, int) or not isinstance(head_hash, str):
            report.problems.append(f"checkpoint {checkpoint.pk} is not an audit checkpoint")
        elif seq > walk.last_seq:
            report.problems.append(
                f"a signed checkpoint saw row {seq} but the chain ends at row {walk.last_seq} "
                "(the chain was truncated)"
            )
        elif walk.hashes.get(seq) != head_hash:
            report.problems.append(
                f"row {seq} differs from the signed checkpoint of {predicate.get('time')}"
            )


def audit_checkpoint(*, tenant_id: int | None) -> AuditCheckpoint | None:
    """Sign the chain's current head unless the last checkpoint already covers it."""
    head = audit_chain_head(tenant_id=tenant_id)
    if head is None or head.seq == 0:
        return None
    tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id is not None else None
    if tenant_id is not None and tenant is None:
        return None  # a deleted tenant's chain stays as it is; it has no retention to sign under
    last = AuditCheckpoint.objects.filter(tenant_id=tenant_id).order_by("-seq").first()
    if last is not None and last.seq >= head.seq:
        return None
    now = timezone.now()
    chain = _chain_name(tenant_id)
    statement = checkpoint_statement(chain=chain, seq=head.seq, head_hash=head.hash, moment=now)
    signed, backend, location, _, _, _ = sign_and_store(
        tenant=tenant,
        document=statement,
        key_name=f"checkpoints/{chain}/{head.seq:012d}-{now:%Y%m%dT%H%M%S%f}.dsse.fernet",
    )
    return AuditCheckpoint.objects.create(
        tenant_id=tenant_id,
        seq=head.seq,
        head_hash=head.hash,
        envelope=signed.envelope,
        keyid=signed.keyid,
        backend=backend,
        location=location,
        created_at=now,
    )


def audit_checkpoint_all() -> int:
    """Checkpoint every chain that grew since its last checkpoint; returns how many."""
    made = 0
    for tenant_id in audit_chain_heads():
        if audit_checkpoint(tenant_id=tenant_id) is not None:
            made += 1
    return made
