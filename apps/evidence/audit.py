"""The tamper-evident audit log.

One hash chain per tenant (tenant NULL: one chain of global changes). Each AuditEvent holds
sha256(canonical JSON of its fields + the previous row's hash). Writers lock the chain's head
row (SELECT … FOR UPDATE) until their transaction ends, so two writers cannot fork a chain; an
audit row commits or rolls back with the change it records. Checkpoints, signed on a beat
schedule, pin a chain's head so cutting rows off its end is detected too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from apps.evidence.canonical import canonical_digest
from apps.evidence.models import AuditChainHead, AuditCheckpoint, AuditEvent
from fixops.platform.request_id import current_request_id

if TYPE_CHECKING:
    from apps.tenants.models import Tenant

GENESIS = "0" * 64


def _plain(value: dict | None) -> dict | None:
    """JSON-safe copy (dates, decimals, UUIDs as strings): what is stored is what is hashed."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(event: AuditEvent) -> str:
    """sha256 of the row's content and its predecessor's hash (RFC 8785 JSON)."""
    return canonical_digest(
        {
            "tenant": event.tenant_id,
            "seq": event.seq,
            "actor": event.actor,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "before": event.before,
            "after": event.after,
            "request_id": event.request_id,
            "created_at": _moment(event.created_at),
            "prev_hash": event.prev_hash,
        }
    )


def _locked_head(tenant_id: int | None) -> AuditChainHead:
    heads = AuditChainHead.objects.select_for_update()
    head = heads.filter(tenant_id=tenant_id).first()
    if head is None:
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(tenant_id=tenant_id, seq=0, hash=GENESIS)], ignore_conflicts=True
        )
        head = heads.get(tenant_id=tenant_id)
    return head


def _request_id(request_id: str | None) -> str:
    if request_id is not None:
        return request_id
    current = current_request_id()
    return "" if current == "-" else current


def audit_record_many(
    *,
    tenant: Tenant | None,
    actor: str,
    action: str,
    target_type: str,
    changes: Iterable[tuple[Any, dict | None, dict | None]],
    request_id: str | None = None,
) -> list[AuditEvent]:
    """Append one event per (target_id, before, after) under a single head lock."""
    tenant_id = tenant.pk if tenant is not None else None
    request = _request_id(request_id)
    now = timezone.now()
    with transaction.atomic():
        head = _locked_head(tenant_id)
        events = []
        seq, previous = head.seq, head.hash
        for target_id, before, after in changes:
            seq += 1
            event = AuditEvent(
                tenant_id=tenant_id,
                seq=seq,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=str(target_id),
                before=_plain(before),
                after=_plain(after),
                request_id=request,
                created_at=now,
                prev_hash=previous,
            )
            event.hash = previous = event_hash(event)
            events.append(event)
        if not events:
            return []
        AuditEvent.objects.bulk_create(events)
        head.seq, head.hash, head.updated_at = seq, previous, now
        head.save(update_fields=["seq", "hash", "updated_at"])
    return events


def audit_record(
    *,
    tenant: Tenant | None,
    actor: str,
    action: str,
    target_type: str,
    target_id: Any,
    before: dict | None,
    after: dict | None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the tenant's chain (inside the caller's transaction)."""
    return audit_record_many(
        tenant=tenant,
        actor=actor,
        action=action,
        target_type=target_type,
        changes=[(target_id, before, after)],
        request_id=request_id,
    )[0]


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
    from apps.tenants.models import Tenant

    slug = Tenant.objects.filter(pk=tenant_id).values_list("slug", flat=True).first()
    return slug or f"tenant-{tenant_id}"


def audit_chain_verify(*, tenant_id: int | None) -> ChainReport:
    """Walk one chain: edited rows (hash), deleted or inserted rows (sequence gaps, broken
    links), a head that does not match the last row, and checkpoints beyond the end."""
    report = ChainReport(chain=_chain_name(tenant_id))
    expected_seq, previous = 1, GENESIS
    hashes: dict[int, str] = {}
    rows = AuditEvent.objects.filter(tenant_id=tenant_id).order_by("seq")
    for event in rows.iterator(chunk_size=2000):
        report.events += 1
        if event.seq != expected_seq:
            report.problems.append(
                f"rows {expected_seq}..{event.seq - 1} are missing (deleted)"
                if event.seq > expected_seq
                else f"row {event.seq} is out of order"
            )
        if event.prev_hash != previous:
            report.problems.append(
                f"row {event.seq} does not link to the row before it (a row was deleted or "
                "inserted)"
            )
        if event_hash(event) != event.hash:
            report.problems.append(f"row {event.seq} was edited (its hash does not match)")
        hashes[event.seq] = event.hash
        expected_seq, previous = event.seq + 1, event.hash
    last_seq = expected_seq - 1
    head = AuditChainHead.objects.filter(tenant_id=tenant_id).first()
    if head is not None and (head.seq != last_seq or head.hash != previous):
        report.problems.append(
            f"the chain head says row {head.seq} but the last row is {last_seq} (rows were "
            "removed from or added to the end)"
        )
    _check_checkpoints(report, tenant_id, hashes, last_seq)
    return report


def _check_checkpoints(report: ChainReport, tenant_id, hashes: dict[int, str], last_seq: int):
    from apps.evidence.services import keyring
    from apps.evidence.signing import VerificationError, verify_envelope

    keys = keyring()
    for checkpoint in AuditCheckpoint.objects.filter(tenant_id=tenant_id).order_by("seq"):
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
        elif seq > last_seq:
            report.problems.append(
                f"a signed checkpoint saw row {seq} but the chain ends at row {last_seq} "
                "(the chain was truncated)"
            )
        elif hashes.get(seq) != head_hash:
            report.problems.append(
                f"row {seq} differs from the signed checkpoint of {predicate.get('time')}"
            )


def audit_checkpoint(*, tenant_id: int | None) -> AuditCheckpoint | None:
    """Sign the chain's current head unless the last checkpoint already covers it."""
    from apps.evidence.services import sign_and_store
    from apps.evidence.statement import checkpoint_statement
    from apps.tenants.models import Tenant

    head = AuditChainHead.objects.filter(tenant_id=tenant_id).first()
    if head is None or head.seq == 0:
        return None
    last = AuditCheckpoint.objects.filter(tenant_id=tenant_id).order_by("-seq").first()
    if last is not None and last.seq >= head.seq:
        return None
    now = timezone.now()
    chain = _chain_name(tenant_id)
    statement = checkpoint_statement(chain=chain, seq=head.seq, head_hash=head.hash, moment=now)
    tenant = Tenant.objects.get(pk=tenant_id) if tenant_id is not None else None
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
    for tenant_id in AuditChainHead.objects.values_list("tenant_id", flat=True):
        if audit_checkpoint(tenant_id=tenant_id) is not None:
            made += 1
    return made
